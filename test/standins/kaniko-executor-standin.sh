#!/bin/sh
# shellcheck disable=SC3045 # busybox ash's read takes -d '' (NUL-separated lists of values)
# A STAND-IN for kaniko's /kaniko/executor, used only by the tests. It is NOT kaniko.
#
# It runs inside the test sandbox root (busybox) and speaks the executor's argv interface:
# pflag-style flags (`--flag value` or `--flag=value`; boolean flags take no separate value),
# an error for unknown flags, and the checks the real executor makes (--force outside a
# container, --destination with --tar-path, a known --snapshot-mode, an existing Dockerfile and
# --target stage). It logs each instruction the way kaniko's default `color` format does
# (`INFO[0000] RUN …`), and writes a valid docker-archive tarball (config `sha256:<hex>`, gzip
# layers `<hex>.tar.gz`, manifest.json) to --tar-path and the Docker manifest digest crane computes
# from that tarball to --digest-file. References below are to osscontainertools/kaniko at v1.28.2
# and the go-containerregistry v0.21.7 it vendors (vendor/github.com/google/go-containerregistry,
# "ggcr/" below).
#
# Platforms. --custom-platform names the target platform; without it, the build platform
# (cmd/executor/cmd/root.go:110-116: containerd's platforms.DefaultSpec() of the executor, here read
# from `uname -m`). A spec with more than three parts is fatal there, as in kaniko; the stand-in
# takes only os/arch[/variant]. The predefined args (pkg/dockerfile/buildargs.go:209-243:
# BUILD{PLATFORM,OS,OSVERSION,ARCH,VARIANT}, TARGET{PLATFORM,OS,OSVERSION,ARCH,VARIANT,STAGE})
# reach a RUN line only after an `ARG NAME` in its stage (buildargs.go:165-182, getBuildArg: a
# predefined value only for a declared arg). They are NOT substituted in FROM lines: kaniko resolves
# a FROM with the global ARGs and --build-arg values only (pkg/dockerfile/dockerfile.go:284-295 and
# 447-468), so `FROM image:$TARGETARCH` leaves `image:`, which does not parse. `FROM --platform=…` is
# parsed and ignored (buildkit keeps it in Stage.Platform, which kaniko never reads): every base is
# pulled for --custom-platform (pkg/image/remote/remote.go:144-158).
#
# Base images. `FROM scratch` builds on the sandbox root: RUN lines run there with /bin/sh.
# `FROM <registry>/<repository>[:tag|@digest] [AS name]` pulls the image before any stage runs, as
# kaniko's MakeKanikoStages does (dockerfile.go:297-443, last stage first): over plain HTTP/1.1
# (busybox nc), only from a registry go-containerregistry speaks plain HTTP to (ggcr/pkg/name/
# registry.go:88-108: 127.0.0.1, localhost:PORT, *.localhost, ::1, an RFC 1918 address) or one named
# by --insecure-registry, or any with --insecure-pull (remote.go:86-92); anything else fails where
# kaniko would need TLS, which the stand-in does not speak. It pings /v2/, fetches the manifest
# with kaniko's Accept header, resolves an OCI index or Docker manifest list to the first child
# whose platform matches (ggcr/pkg/v1/remote/index.go:173-190, 252-275; failing with
# "no child with platform … in index …"), then fetches the config and, for the tarball or the
# stage's RUN lines, the layers, checking each blob's digest. A stage with a RUN line gets its
# base's layers extracted into a root of its own (kaniko unpacks when a command needs the
# filesystem, pkg/executor/build.go:530-566) and its RUN lines run with `chroot <root> /bin/sh -c`,
# so an arm64 base runs under QEMU when binfmt_misc has it (flag F) and an amd64 one natively.
# RUN gets kaniko's environment, not the executor's: the stage config's Env, the declared ARGs and
# any proxy build arg, HOME=/root (pkg/commands/run.go:340-381). Refused, with a clear error: a
# stage FROM an earlier stage by name, a base whose manifest is not Docker schema 2 (kaniko keeps
# an OCI base's format, and its digest file then names an OCI manifest), a layer that is not a gzip
# Docker layer or that holds whiteouts, a registry that asks for a token, a redirect or a chunked
# answer, a pull through a proxy, and `${NAME:…}` forms in a FROM line. The stage root has no /proc
# or /dev.
#
# The image is the --target stage, or the last one: its base's layers first (the same blobs and
# DiffIDs), then one gzip layer holding the build context once the stage has a COPY or ADD; its
# config keeps the base's `config` (Env, Labels, Cmd, …; --label wins over a base label, and
# labels are sorted as Go marshals a map), the base's history before its own instructions', and the
# os/architecture/variant of --custom-platform as written (build.go:1482-1494, v1.ParsePlatform).
#
# So that the tests can check the sandbox, it also reports what it sees into the output
# folder (the folder of --tar-path): standin-argv (NUL-separated), standin-build-args (resolved
# as kaniko does: a --build-arg without `=` takes the value of the same-named environment
# variable; NUL-separated), standin-env, standin-visible (every path outside /proc),
# standin-context-writable, standin-mountinfo, standin-status (its /proc/self/status).
#
# With --cache=true it caches layers in --cache-repo the way kaniko does, over plain HTTP/1.1
# (busybox nc; the action's cache repository is a loopback registry): first the push-permission
# check (cmd/executor/cmd/root.go:208-219 at v1.28.2, which fails the build; remote/check.go:
# POST an upload, then DELETE it), then one entry per RUN line, tagged with a cache key chained
# from the stage's FROM line and each instruction (not kaniko's key algorithm, which hashes files
# and build args too). An entry is pkg/executor/push.go:359-417 (pushLayerToCache): an image of
# one gzip layer with the RUN line as history, each blob HEAD-checked and uploaded with POST,
# PATCH and PUT ?digest= (vendored go-containerregistry remote/write.go:200-365), then the
# Docker manifest PUT under the key (write.go:593-633); a failed push is a warning
# (pkg/executor/build.go:767-769). The layer of a RUN in the stage the image is built from is
# the image's own layer (the build context); a RUN in any other stage gets a layer of its own
# that is not in the image, as kaniko caches the layers of every stage it builds.
set -eu

INFO=$(printf '\033[36mINFO\033[0m[0000]')
# kaniko prints flag and option errors through cobra ("Error: …") and a failed build as a plain
# "error building image: …" line, both on stderr, and exits 1.
die() {
  echo "$*" >&2
  exit 1
}

json_string() {
  printf '"'
  printf '%s' "$1" | awk 'BEGIN { ORS = "" } {
    gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); gsub(/\t/, "\\t"); gsub(/\r/, "\\r")
    if (NR > 1) printf "\\n"
    printf "%s", $0
  }'
  printf '"'
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { wc -c < "$1" | tr -d ' '; }

# `json MODE FILE [KEY…]`: the value at that path of a JSON file (KEY an object key or an array
# index): MODE raw (its JSON text), string (a string, decoded), keys (one per line) or length.
# False when the path is missing. busybox has no JSON tool, so this is a small parser in awk.
# shellcheck disable=SC2016 # an awk program: its $ are awk's
JSON_AWK='
function ws() { while (p <= n && index(" \t\n\r", substr(s, p, 1))) p++ }
function fail(why) { printf "standin-json: %s at byte %d\n", why, p > "/dev/stderr"; exit 2 }
function value(   id, c, closer, k, count, next_char) {
  ws(); id = ++nodes; from[id] = p; c = substr(s, p, 1); count = 0
  if (c == "{" || c == "[") {
    kind[id] = c; closer = (c == "{" ? "}" : "]"); p++; ws()
    if (substr(s, p, 1) == closer) p++
    else while (1) {
      if (c == "{") {
        ws(); if (substr(s, p, 1) != "\"") fail("object key expected")
        k = text(); ws(); if (substr(s, p, 1) != ":") fail("colon expected"); p++
      } else k = count
      child[id, count] = value(); key[id, count++] = k; ws()
      next_char = substr(s, p++, 1)
      if (next_char == closer) break
      if (next_char != ",") fail("comma or end expected")
    }
  } else if (c == "\"") { kind[id] = "s"; decoded[id] = text() }
  else if (match(substr(s, p), /^(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|true|false|null)/)) { kind[id] = "v"; p += RLENGTH }
  else fail("value expected")
  size[id] = count; to[id] = p
  return id
}
function text(   raw, out, c, i, cp, low) {
  if (!match(substr(s, p), /^"([^"\\]|\\.)*"/)) fail("unterminated string")
  raw = substr(s, p + 1, RLENGTH - 2); p += RLENGTH; out = ""
  while ((i = index(raw, "\\")) > 0) {
    out = out substr(raw, 1, i - 1); c = substr(raw, i + 1, 1); raw = substr(raw, i + 2)
    if (c == "n") out = out "\n"; else if (c == "t") out = out "\t"; else if (c == "r") out = out "\r"
    else if (c == "b") out = out "\b"; else if (c == "f") out = out "\f"
    else if (c == "u") {
      cp = hex(substr(raw, 1, 4)); raw = substr(raw, 5)
      if (cp >= 55296 && cp < 56320 && substr(raw, 1, 2) == "\\u") {
        low = hex(substr(raw, 3, 4)); raw = substr(raw, 7); cp = 65536 + (cp - 55296) * 1024 + (low - 56320)
      }
      out = out utf8(cp)
    } else out = out c
  }
  return out raw
}
function hex(h,   v, j) { v = 0; h = tolower(h); for (j = 1; j <= 4; j++) v = v * 16 + index("0123456789abcdef", substr(h, j, 1)) - 1; return v }
function utf8(cp) {
  if (cp < 128) return sprintf("%c", cp)
  if (cp < 2048) return sprintf("%c%c", 192 + int(cp / 64), 128 + cp % 64)
  if (cp < 65536) return sprintf("%c%c%c", 224 + int(cp / 4096), 128 + int(cp / 64) % 64, 128 + cp % 64)
  return sprintf("%c%c%c%c", 240 + int(cp / 262144), 128 + int(cp / 4096) % 64, 128 + int(cp / 64) % 64, 128 + cp % 64)
}
{ s = s (NR > 1 ? "\n" : "") $0 }
END {
  n = length(s); p = 1; node = value()
  count = split(ENVIRON["JSON_PATH"], part, "\001")
  for (w = 1; w < count; w++) {
    found = 0
    for (j = 0; j < size[node]; j++) if (key[node, j] "" == part[w]) { node = child[node, j]; found = 1; break }
    if (!found) exit 1
  }
  mode = ENVIRON["JSON_MODE"]
  if (mode == "raw") printf "%s", substr(s, from[node], to[node] - from[node])
  else if (mode == "string") { if (kind[node] != "s") exit 1; printf "%s", decoded[node] }
  else if (mode == "keys") { for (j = 0; j < size[node]; j++) print key[node, j] }
  else if (mode == "length") print size[node]
}'
json() {
  json_mode=$1 json_file=$2 json_path=''
  shift 2
  [ $# -eq 0 ] || json_path=$(printf '%s\001' "$@")
  JSON_MODE=$json_mode JSON_PATH=$json_path awk "$JSON_AWK" "$json_file"
}

# `substitute TEXT VARS_FILE`: TEXT with $NAME and ${NAME} replaced from the NAME=VALUE lines of
# VARS_FILE (the last one wins, as buildkit's EnvsFromSlice), an unset NAME by nothing and `\$` by
# `$`: the part of buildkit's shell lexer a FROM line needs (pkg/util/command_util.go
# ResolveEnvironmentReplacement). False for a `${NAME…}` form the stand-in does not know.
substitute() {
  SUBST_TEXT=$1 awk '
    { i = index($0, "="); if (i) v[substr($0, 1, i - 1)] = substr($0, i + 1) }
    END {
      t = ENVIRON["SUBST_TEXT"]; out = ""
      while (match(t, /\\?\$(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)?/)) {
        out = out substr(t, 1, RSTART - 1); m = substr(t, RSTART, RLENGTH); t = substr(t, RSTART + RLENGTH)
        if (substr(m, 1, 1) == "\\") { out = out substr(m, 2); continue }
        if (m == "$") { out = out m; continue }
        name = m; sub(/^\$\{?/, "", name); sub(/\}$/, "", name)
        if (name !~ /^[A-Za-z_][A-Za-z0-9_]*$/) exit 2
        out = out v[name]
      }
      printf "%s", out t
    }' "$2"
}

# The value of the last NAME=… entry of a NUL-separated list, in $value; false when it has none.
lookup() {
  looked_up=1
  while IFS= read -r -d '' entry; do
    case $entry in "$2="*) value=${entry#*=} looked_up=0 ;; esac
  done < "$1"
  return $looked_up
}

mkdir -p /tmp
printf '%s\0' "$@" > /tmp/standin-argv

force=no no_push=no reproducible=no cache=no insecure_pull=false
context='' dockerfile='' destination='' tar_path='' digest_file='' target='' snapshot_mode=full cache_repo=''
custom_platform='' insecure_registries=''
: > /tmp/standin-build-args
: > /tmp/standin-labels
while [ $# -gt 0 ]; do
  flag=$1
  shift
  case $flag in
    --*=*) name=${flag%%=*} value=${flag#*=} has_value=yes ;;
    --*) name=$flag value='' has_value=no ;;
    -c | -f | -d) name=$flag value='' has_value=no ;;
    *) die "Error: unexpected argument \"$flag\": the executor takes flags only" ;;
  esac
  case $name in
    --force | --no-push | --reproducible | --cache | --insecure | --skip-tls-verify | --insecure-pull | \
      --skip-tls-verify-pull | --single-snapshot | --cleanup | --use-new-run | --log-timestamp | \
      --skip-unused-stages | --cache-copy-layers | --cache-run-layers | --compressed-caching)
      [ "$has_value" = no ] && value=true
      case $value in true | false) ;; *) die "Error: invalid argument \"$value\" for \"$name\" flag: parse error" ;; esac
      case $name in
        --force) force=$value ;;
        --no-push) no_push=$value ;;
        --reproducible) reproducible=$value ;;
        --cache) cache=$value ;;
        --insecure-pull) insecure_pull=$value ;;
      esac
      continue
      ;;
    --context | -c | --dockerfile | -f | --destination | -d | --tar-path | --digest-file | --build-arg | \
      --label | --target | --cache-repo | --snapshot-mode | --insecure-registry | --skip-tls-verify-registry | \
      --verbosity | --log-format | --custom-platform | --ignore-path | --cache-dir | --cache-ttl | \
      --image-fs-extract-retry | --push-retry | --registry-mirror | --compression | --compression-level | \
      --kaniko-dir | --build-arg-file)
      if [ "$has_value" = no ]; then
        [ $# -gt 0 ] || die "Error: flag needs an argument: $name"
        value=$1
        shift
      fi
      ;;
    *) die "Error: unknown flag: $name" ;;
  esac
  case $name in
    --context | -c) context=$value ;;
    --dockerfile | -f) dockerfile=$value ;;
    --destination | -d) destination=$value ;;
    --tar-path) tar_path=$value ;;
    --digest-file) digest_file=$value ;;
    --target) target=$value ;;
    --snapshot-mode) snapshot_mode=$value ;;
    --cache-repo) cache_repo=$value ;;
    --custom-platform) custom_platform=$value ;;
    --insecure-registry) insecure_registries="$insecure_registries $value" ;;
    --build-arg)
      case $value in
        *=*) printf '%s\0' "$value" ;;
        *) printf '%s=%s\0' "$value" "$(env | sed -n "s/^$value=//p")" ;;
      esac >> /tmp/standin-build-args
      ;;
    --label) printf '%s\0' "$value" >> /tmp/standin-labels ;;
  esac
done

# The build platform: containerd's platforms.DefaultSpec() (the executor's GOARCH, a CPU variant
# on ARM only), normalised and formatted (root.go:111-113, buildargs.go:210-212).
case $(uname -m) in
  x86_64) build_arch=amd64 build_variant='' ;;
  aarch64 | arm64) build_arch=arm64 build_variant='' ;;
  armv7l) build_arch=arm build_variant=v7 ;;
  armv6l) build_arch=arm build_variant=v6 ;;
  i?86) build_arch=386 build_variant='' ;;
  *) build_arch=$(uname -m) build_variant='' ;;
esac
build_platform=linux/$build_arch${build_variant:+/$build_variant}
[ -n "$custom_platform" ] || custom_platform=$build_platform
# v1.ParsePlatform (ggcr/pkg/v1/platform.go:55-76) takes the spec as written: the platform pulled
# and written into the image config. Its only failure is fatal in ValidateFlags (root.go:114-116).
IFS=/ read -r target_os target_arch target_variant extra_part <<EOF
$custom_platform
EOF
[ -z "$extra_part" ] || die "$(printf '\033[31mFATA\033[0m[0000]') Invalid platform \"$custom_platform\": too many slashes in platform spec: $custom_platform"
printf '%s' "$custom_platform" | grep -Eq '^[a-z0-9_-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?$' ||
  die "error building image: the kaniko stand-in takes --custom-platform as os/arch[/variant], not \"$custom_platform\""
# containerd's platforms.Parse normalises it for the TARGET* args (vendor/github.com/containerd/
# platforms/platforms.go:264-345, database.go:76-111).
normal_arch=$(printf '%s' "$target_arch" | tr '[:upper:]' '[:lower:]')
normal_variant=$(printf '%s' "$target_variant" | tr '[:upper:]' '[:lower:]')
case $normal_arch in
  i386) normal_arch=386 normal_variant='' ;;
  x86_64 | x86-64 | amd64)
    normal_arch=amd64
    [ "$normal_variant" != v1 ] || normal_variant=''
    ;;
  aarch64 | arm64)
    normal_arch=arm64
    case $normal_variant in 8 | v8 | v8.0) normal_variant='' ;; 9 | 9.0 | v9.0) normal_variant=v9 ;; esac
    ;;
  armhf) normal_arch=arm normal_variant=v7 ;;
  armel) normal_arch=arm normal_variant=v6 ;;
  arm) case $normal_variant in '' | 7) normal_variant=v7 ;; 5 | 6 | 8) normal_variant=v$normal_variant ;; esac ;;
esac
if [ -z "$target_variant" ]; then
  [ "$normal_arch/$normal_variant" != arm/v7 ] || normal_variant=''
elif [ "$normal_arch/$normal_variant" = arm64/ ]; then
  normal_variant=v8
fi

[ "$force" = true ] || die "Error: kaniko should only be run inside of a container, run with the --force flag if you are sure you want to continue"
case $snapshot_mode in full | redo | time) ;; *) die "Error: $snapshot_mode is not a valid snapshot mode" ;; esac
[ -n "$tar_path" ] && [ -z "$destination" ] && die "Error: you must provide --destination if setting --tar-path"
[ "$no_push" = true ] || [ -n "$destination" ] || die "Error: you must provide --destination, or use --no-push"
case $context in dir://*) context_dir=${context#dir://} ;; *) die "Error: unsupported context $context" ;; esac
[ -d "$context_dir" ] || die "Error: context directory $context_dir does not exist"
[ -f "$dockerfile" ] || die "Error: error resolving dockerfile path: please provide a valid path to a Dockerfile within the build context with --dockerfile"

# Plain HTTP/1.1 to a registry: `http HOST METHOD PATH [BODY_FILE [CONTENT_TYPE]]`, with an Accept
# header when $http_accept is set, sets $status, $reason, $content_type and $location (its path: an
# absolute URL loses scheme and host), leaves the head in /tmp/standin-http-head, the body in
# /tmp/standin-http-body and nc's complaint in /tmp/standin-http-error. The request side stays open
# until the whole answer came (up to 30 s) or nc complained: busybox nc half-closes the connection
# at the end of its input, which a Go client never does, which Node's HTTP server takes as an abort
# and on which Go's stops writing a long answer.
http_accept=''
http() {
  body=${4:-}
  length=0
  [ -z "$body" ] || length=$(size_of "$body")
  rm -f /tmp/standin-http /tmp/standin-http-error
  # shellcheck disable=SC2094 # on purpose: the answer nc writes there ends the wait
  {
    printf '%s %s HTTP/1.1\r\nHost: %s\r\n' "$2" "$3" "$1"
    [ -z "$http_accept" ] || printf 'Accept: %s\r\n' "$http_accept"
    printf 'Content-Type: %s\r\nContent-Length: %s\r\nConnection: close\r\n\r\n' \
      "${5:-application/octet-stream}" "$length"
    [ -z "$body" ] || cat "$body"
    waited=0
    while ! answered "$2" && [ ! -s /tmp/standin-http-error ] && [ "$waited" -lt 3000 ]; do
      usleep 10000
      waited=$((waited + 1))
    done
  } | nc "${1%:*}" "${1##*:}" > /tmp/standin-http 2> /tmp/standin-http-error || true
  answered "$2" || true
  tr -d '\r' < /tmp/standin-http-raw-head > /tmp/standin-http-head
  status=$(sed -n '1s/^HTTP\/1\.[01] \([0-9]*\).*/\1/p' /tmp/standin-http-head)
  reason=$(sed -n '1s/^HTTP\/1\.[01] //p' /tmp/standin-http-head)
  content_type=$(sed -n 's/^[Cc]ontent-[Tt]ype: //p' /tmp/standin-http-head)
  location=$(sed -n 's/^[Ll]ocation: //p' /tmp/standin-http-head)
  location=${location#http://"$1"}
  tail -c +$(($(size_of /tmp/standin-http-raw-head) + 1)) /tmp/standin-http > /tmp/standin-http-body
}

# Whether /tmp/standin-http holds the whole answer to a METHOD request: its head (copied to
# /tmp/standin-http-raw-head), then as many bytes as its Content-Length says unless it answers a
# HEAD; an answer without a Content-Length is taken as whole once its head came.
answered() {
  sed '/^\r$/q' /tmp/standin-http > /tmp/standin-http-raw-head 2>/dev/null || return 1
  [ "$(tail -n 1 /tmp/standin-http-raw-head)" = "$(printf '\r')" ] || return 1
  [ "$1" != HEAD ] || return 0
  expected=$(tr -d '\r' < /tmp/standin-http-raw-head | sed -n 's/^[Cc]ontent-[Ll]ength: //p')
  [ -z "$expected" ] || [ "$(size_of /tmp/standin-http)" -ge $(($(size_of /tmp/standin-http-raw-head) + expected)) ]
}

# HEAD, then POST, PATCH and PUT ?digest= unless the registry has it; false on any other answer.
push_blob() {
  blob_digest=sha256:$(sha256_of "$1")
  http "$cache_host" HEAD "/v2/$cache_path/blobs/$blob_digest"
  [ "$status" = 200 ] && return 0
  http "$cache_host" POST "/v2/$cache_path/blobs/uploads/"
  [ "$status" = 202 ] && [ -n "$location" ] || return 1
  http "$cache_host" PATCH "$location" "$1"
  [ "$status" = 202 ] && [ -n "$location" ] || return 1
  case $location in *\?*) separator='&' ;; *) separator='?' ;; esac
  http "$cache_host" PUT "$location${separator}digest=sha256%3A${blob_digest#sha256:}"
  [ "$status" = 201 ]
}

# push_cache_entry KEY LAYER_TAR LAYER_TAR_GZ INSTRUCTION
push_cache_entry() {
  echo "$INFO Pushing layer $cache_repo:$1 to cache now"
  entry=/tmp/standin-cache-entry
  printf '{"architecture":"","created":"%s","history":[{"created":"%s","author":"kaniko","created_by":%s}],"os":"","rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"config":{}}' \
    "$created" "$created" "$(json_string "$4")" "$(sha256_of "$2")" > "$entry.config"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%s,"digest":"sha256:%s"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%s,"digest":"sha256:%s"}]}' \
    "$(size_of "$entry.config")" "$(sha256_of "$entry.config")" "$(size_of "$3")" "$(sha256_of "$3")" > "$entry.manifest"
  if push_blob "$3" && push_blob "$entry.config" &&
    http "$cache_host" PUT "/v2/$cache_path/manifests/$1" "$entry.manifest" application/vnd.docker.distribution.manifest.v2+json &&
    [ "$status" = 201 ]; then
    return 0
  fi
  echo "WARN[0000] Error uploading layer to cache: PUT $cache_repo:$1: unexpected status code ${status:-none}"
}

# The build context as one gzip layer, made once: the image's layer and its RUN lines' cache layer.
context_layer() {
  [ -f "$work/layer.tar.gz" ] && return 0
  (cd "$context_dir" && tar -cf "$work/layer.tar" .)
  gzip -n -c "$work/layer.tar" > "$work/layer.tar.gz"
}

if [ "$cache" = true ]; then
  [ -n "$cache_repo" ] || cache_repo="${destination%:*}/cache"
  cache_host=${cache_repo%%/*} cache_path=${cache_repo#*/}
  case $cache_host in
    *:[0-9]*) ;;
    *) die "error checking push permissions: the stand-in speaks plain HTTP to HOST:PORT only, not to $cache_host" ;;
  esac
  http "$cache_host" POST "/v2/$cache_path/blobs/uploads/"
  [ "$status" = 202 ] || [ "$status" = 201 ] ||
    die "error checking push permissions: checking push permission for \"$cache_repo\": POST http://$cache_host/v2/$cache_path/blobs/uploads/: unexpected status code ${status:-none (no answer)}"
  [ -z "$location" ] || http "$cache_host" DELETE "$location"
fi

# The report for the tests.
report=$(dirname "${tar_path:-/output/image.tar}")
mkdir -p "$report"
cp /tmp/standin-argv "$report/standin-argv"
env > "$report/standin-env"
find / -path /proc -prune -o -print > "$report/standin-visible" 2>/dev/null || true
if touch "$context_dir/.standin-probe" 2>/dev/null; then echo yes; else echo no; fi > "$report/standin-context-writable"
cat /proc/self/mountinfo > "$report/standin-mountinfo" 2>/dev/null || true
cat /proc/self/status > "$report/standin-status" 2>/dev/null || true
cp /tmp/standin-build-args "$report/standin-build-args"

# Read the Dockerfile: one instruction per line after joining continuations, comments dropped.
instructions=/tmp/standin-instructions
: > "$instructions"
pending=''
while IFS= read -r line || [ -n "$line" ]; do
  trimmed=$(printf '%s' "$line" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
  case $trimmed in '' | '#'*) continue ;; esac
  case $trimmed in
    *\\) pending="$pending${trimmed%\\} " ;;
    *) printf '%s\n' "$pending$trimmed" >> "$instructions"; pending='' ;;
  esac
done < "$dockerfile"
[ -z "$pending" ] || printf '%s\n' "$pending" >> "$instructions"

if [ -n "$target" ] && ! grep -qiE "^FROM[[:space:]].*[[:space:]]AS[[:space:]]+$target\$" "$instructions"; then
  die "error building image: parsing dockerfile: target stage $target could not be found"
fi

work=/tmp/standin-build
rm -rf "$work"
mkdir -p "$work/out"
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
[ "$reproducible" = true ] && created=1970-01-01T00:00:00Z

# `ARG NAME[=value]` as NAME or NAME=value, quotes around the value stripped
# (dockerfile.go:151-217, stripEnclosingQuotes).
arg_entry() {
  case $1 in *[[:space:]]*) die "error building image: the kaniko stand-in takes one NAME[=value] per ARG, not: ARG $1" ;; esac
  case $1 in
    *=\"*\" | *=\'*\')
      arg_value=${1#*=}
      arg_value=${arg_value#?}
      printf '%s=%s' "${1%%=*}" "${arg_value%?}"
      ;;
    *) printf '%s' "$1" ;;
  esac
}

# Pass 1, over the FROM lines: the global ARGs before the first one (their values expanded with
# the ARGs before them and the build args, dockerfile.go:129-147), then each stage's name, base
# image after substitution and first RUN line.
: > "$work/meta-args"
: > "$work/meta-values"
: > "$work/stages"
tr '\0' '\n' < /tmp/standin-build-args > "$work/build-arg-lines"
stages=0 first_run=''
while IFS= read -r instruction; do
  keyword=$(printf '%s' "${instruction%% *}" | tr '[:lower:]' '[:upper:]')
  if [ "$keyword" = ARG ] && [ "$stages" = 0 ]; then
    entry=$(arg_entry "${instruction#* }")
    case $entry in
      *=*)
        cat "$work/meta-values" "$work/build-arg-lines" > "$work/vars"
        expanded=$(substitute "${entry#*=}" "$work/vars") ||
          die "error building image: the kaniko stand-in substitutes only \$NAME and \${NAME}: $instruction"
        entry="${entry%%=*}=$expanded"
        printf '%s\n' "$entry" >> "$work/meta-values"
        ;;
    esac
    printf '%s\0' "$entry" >> "$work/meta-args"
  elif [ "$keyword" = FROM ]; then
    [ "$stages" = 0 ] || printf '%s' "$first_run" > "$work/stage-$stages/first-run"
    stages=$((stages + 1)) first_run=''
    mkdir -p "$work/stage-$stages"
    set -f
    # shellcheck disable=SC2086 # the FROM line's words, unquoted on purpose (globbing is off)
    set -- ${instruction#* }
    set +f
    # buildkit parses `--platform` into Stage.Platform (instructions/parse.go:395-418); kaniko
    # never reads it, so the base is pulled for --custom-platform all the same.
    while [ $# -gt 1 ]; do
      case $1 in
        --platform=*) shift ;;
        --*) die "error building image: the kaniko stand-in knows no FROM flag but --platform: $instruction" ;;
        *) break ;;
      esac
    done
    stage_name=''
    if [ $# = 3 ] && [ "$(printf '%s' "$2" | tr '[:upper:]' '[:lower:]')" = as ]; then
      stage_name=$(printf '%s' "$3" | tr '[:upper:]' '[:lower:]')
    elif [ $# != 1 ]; then
      die "error building image: parsing dockerfile: FROM requires either one or three arguments"
    fi
    # unifyArgs (dockerfile.go:447-468): global ARG values, overridden by each non-empty
    # --build-arg value as far as its second `=` (it splits on every `=`).
    cp "$work/meta-values" "$work/vars"
    while IFS= read -r -d '' entry; do
      arg_value=${entry#*=}
      [ -z "${arg_value%%=*}" ] || printf '%s=%s\n' "${entry%%=*}" "${arg_value%%=*}"
    done < /tmp/standin-build-args >> "$work/vars"
    base=$(substitute "$1" "$work/vars") ||
      die "error building image: the kaniko stand-in substitutes only \$NAME and \${NAME}: $instruction"
    printf '%s|%s|%s\n' "$stages" "$stage_name" "$base" >> "$work/stages"
  elif [ "$keyword" = RUN ] && [ -z "$first_run" ]; then
    first_run=$instruction
  fi
done < "$instructions"
[ "$stages" = 0 ] || printf '%s' "$first_run" > "$work/stage-$stages/first-run"

# The stage the image is built from, and its name for TARGETSTAGE ("default" when unnamed,
# buildargs.go:225-228).
if [ -n "$target" ]; then
  image_stage=$(awk -F '|' -v t="$(printf '%s' "$target" | tr '[:upper:]' '[:lower:]')" '$2 == t { print $1; exit }' "$work/stages")
else
  image_stage=$stages
fi
target_stage=$(awk -F '|' -v s="$image_stage" '$1 == s { print $2 }' "$work/stages")

printf '%s\0' "BUILDPLATFORM=$build_platform" BUILDOS=linux BUILDOSVERSION= "BUILDARCH=$build_arch" \
  "BUILDVARIANT=$build_variant" "TARGETPLATFORM=$custom_platform" "TARGETOS=$target_os" TARGETOSVERSION= \
  "TARGETARCH=$normal_arch" "TARGETVARIANT=$normal_variant" "TARGETSTAGE=${target_stage:-default}" \
  > "$work/predefined"

# What a failed pull prints: kaniko's line for a remote.Image error (util.RetryWithResult with
# --image-download-retry 0 wraps it, pkg/util/util.go:198-215) or for a later one.
PULL_FAILED="error building image: unable to complete operation after 0 attempts, last error:"

# go-containerregistry's transport.Error text for the last answer (ggcr/pkg/v1/remote/transport/
# error.go:48-110): the registry's diagnostics ("CODE: message; detail", a detail object printed as
# Go prints a map), or the status and body.
registry_error() {
  errors=$(json length /tmp/standin-http-body errors 2>/dev/null) || errors=0
  if [ "$errors" = 0 ]; then
    if [ -s /tmp/standin-http-body ]; then
      printf 'unexpected status code %s: %s' "$reason" "$(cat /tmp/standin-http-body)"
    else
      printf 'unexpected status code %s' "$reason"
    fi
    return 0
  fi
  [ "$errors" = 1 ] || printf 'multiple errors returned: '
  i=0
  while [ "$i" -lt "$errors" ]; do
    [ "$i" = 0 ] || printf '; '
    printf '%s: %s' "$(json string /tmp/standin-http-body errors "$i" code)" \
      "$(json string /tmp/standin-http-body errors "$i" message || true)"
    if json keys /tmp/standin-http-body errors "$i" detail > /tmp/standin-detail-keys 2>/dev/null; then
      if detail=$(json string /tmp/standin-http-body errors "$i" detail); then
        printf '; %s' "$detail"
      else
        printf '; map['
        sort /tmp/standin-detail-keys | {
          detail_separator=''
          while IFS= read -r detail_key; do
            printf '%s%s:%s' "$detail_separator" "$detail_key" "$(json string /tmp/standin-http-body errors "$i" detail "$detail_key" ||
              json raw /tmp/standin-http-body errors "$i" detail "$detail_key")"
            detail_separator=' '
          done
        }
        printf ']'
      fi
    fi
    i=$((i + 1))
  done
}

# `registry_get PATH ACCEPT OUT`: a GET from $pull_host into OUT; false with $pull_error set to
# go-containerregistry's text when the answer is not 200.
registry_get() {
  http_accept=$2
  http "$pull_host" GET "$1"
  http_accept=''
  grep -qi '^transfer-encoding: chunked' /tmp/standin-http-head &&
    die "error building image: the kaniko stand-in reads no chunked answer (GET http://$pull_host$1)"
  case $status in
    200) mv /tmp/standin-http-body "$3" ;;
    3??) die "error building image: the kaniko stand-in follows no redirect (GET http://$pull_host$1 answered $reason)" ;;
    '') die "error building image: the kaniko stand-in got no answer to GET http://$pull_host$1: $(cat /tmp/standin-http-error)" ;;
    *)
      pull_error="GET http://$pull_host$1: $(registry_error)"
      return 1
      ;;
  esac
}

# `get_blob DIGEST OUT`: a blob of the base's repository, checked against its digest as
# go-containerregistry's verify.ReadCloser does; false with $pull_error set otherwise.
get_blob() {
  registry_get "/v2/$pull_repository/blobs/$1" '' "$2" || return 1
  got=sha256:$(sha256_of "$2")
  [ "$got" = "$1" ] && return 0
  pull_error="error verifying sha256 checksum after reading $(size_of "$2") bytes; got \"$got\", want \"$1\""
  return 1
}

# Whether go-containerregistry speaks plain HTTP to a registry (ggcr/pkg/name/registry.go:88-108),
# or kaniko made it insecure (remote.go:86-92).
plain_http() {
  [ "$insecure_pull" = true ] && return 0
  case " $insecure_registries " in *" $1 "*) return 0 ;; esac
  case $1 in localhost:* | *.localhost | *.localhost:[0-9]* | 127.0.0.1 | 127.0.0.1:[0-9]* | ::1 | '[::1]' | '[::1]':[0-9]*) return 0 ;; esac
  printf '%s' "${1%%:*}" | grep -Eq '^(10\.[0-9]{1,3}|172\.(1[6-9]|2[0-9]|3[01])|192\.168)\.[0-9]{1,3}\.[0-9]{1,3}$'
}

# `pull_base DIR REFERENCE`: the base's manifest (manifest.json), config (config.json) and where it
# came from (source: host and repository) in DIR, resolved for --custom-platform.
pull_base() {
  echo "$INFO Retrieving image manifest $2"
  # name.ParseReference with WeakValidation (ggcr/pkg/name/ref.go:39-47, tag.go, digest.go,
  # repository.go): a Docker Hub name gets index.docker.io and library/.
  reference=$2 identifier=latest
  case $reference in
    *@*) identifier=${reference#*@} reference=${reference%%@*} ;;
  esac
  case ${reference##*/} in
    *:*)
      [ "$identifier" != latest ] || identifier=${reference##*:}
      reference=${reference%:*}
      ;;
  esac
  case $reference in
    */*) case ${reference%%/*} in *.* | *:* | localhost) ;; *) reference=index.docker.io/$reference ;; esac ;;
    *) reference=index.docker.io/library/$reference ;;
  esac
  pull_host=${reference%%/*} pull_repository=${reference#*/}
  [ "$pull_host" != docker.io ] || pull_host=index.docker.io
  if ! printf '%s' "$pull_repository" | grep -Eq '^[a-z0-9_./-]{2,255}$' ||
    ! printf '%s' "$identifier" | grep -Eq '^([A-Za-z0-9_.-]{1,128}|sha256:[0-9a-f]{64})$'; then
    die "error building image: could not parse reference: $2"
  fi
  plain_http "$pull_host" ||
    die "$PULL_FAILED Get \"https://$pull_host/v2/\": the kaniko stand-in speaks no TLS; kaniko v1.28.2 pulls from $pull_host over plain HTTP only when it is a loopback, localhost or RFC 1918 address, listed in --insecure-registry, or with --insecure-pull"
  case $pull_host in
    127.* | localhost | localhost:* | '[::1]'*) ;;
    *) [ -z "${http_proxy:-}${HTTP_PROXY:-}" ] || die "error building image: the kaniko stand-in pulls from $pull_host through no proxy" ;;
  esac
  echo "$INFO Retrieving image $2 from registry $pull_host"
  printf '%s\t%s\n' "$pull_host" "$pull_repository" > "$1/source"

  # The ping (transport.Ping, ggcr/pkg/v1/remote/transport/ping.go:46-108): https first, which a
  # plain HTTP registry fails, then http; both errors are reported when both fail.
  http "$pull_host" GET /v2/
  case $status in
    200) ;;
    401) die "error building image: the kaniko stand-in pulls only from registries that ask for no token ($pull_host)" ;;
    '')
      grep -q 'Connection refused' /tmp/standin-http-error ||
        die "error building image: the kaniko stand-in got no answer to GET http://$pull_host/v2/: $(cat /tmp/standin-http-error)"
      die "$PULL_FAILED Get \"https://$pull_host/v2/\": dial tcp $pull_host: connect: connection refused; Get \"http://$pull_host/v2/\": dial tcp $pull_host: connect: connection refused"
      ;;
    *) die "$PULL_FAILED Get \"https://$pull_host/v2/\": http: server gave HTTP response to HTTPS client; GET http://$pull_host/v2/: $(registry_error)" ;;
  esac

  # remote.Image: the manifest with every manifest type accepted (descriptor.go:29-32, 72-74,
  # fetcher.go:150-232), its type from the answer's Content-Type; an index resolves to the first
  # child for the platform, fetched with the child's type (index.go:173-245).
  accept=application/vnd.docker.distribution.manifest.v1+json,application/vnd.docker.distribution.manifest.v1+prettyjws,application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.oci.image.index.v1+json
  shown=$2 media_type=''
  while :; do
    registry_get "/v2/$pull_repository/manifests/$identifier" "$accept" "$1/manifest.json" ||
      die "$PULL_FAILED $pull_error"
    [ -n "$media_type" ] || media_type=$content_type
    case $identifier in
      sha256:*)
        got=sha256:$(sha256_of "$1/manifest.json")
        [ "$got" = "$identifier" ] ||
          die "$PULL_FAILED manifest digest: \"$got\" does not match requested digest: \"$identifier\" for \"$shown\""
        ;;
    esac
    case $media_type in
      application/vnd.oci.image.index.v1+json | application/vnd.docker.distribution.manifest.list.v2+json) ;;
      application/vnd.docker.distribution.manifest.v2+json) break ;;
      application/vnd.docker.distribution.manifest.v1+json | application/vnd.docker.distribution.manifest.v1+prettyjws)
        die "$PULL_FAILED unsupported MediaType: \"$media_type\", see https://github.com/google/go-containerregistry/issues/377"
        ;;
      *) die "error building image: the kaniko stand-in builds on Docker schema 2 images only; $shown is $media_type" ;;
    esac
    children=$(json length "$1/manifest.json" manifests)
    i=0 identifier=''
    while [ "$i" -lt "$children" ]; do
      # matchesPlatform (index.go:247-275); a child without a platform is linux/amd64.
      if json raw "$1/manifest.json" manifests "$i" platform > /dev/null; then
        child_os=$(json string "$1/manifest.json" manifests "$i" platform os || true)
        child_arch=$(json string "$1/manifest.json" manifests "$i" platform architecture || true)
        child_variant=$(json string "$1/manifest.json" manifests "$i" platform variant || true)
      else
        child_os=linux child_arch=amd64 child_variant=''
      fi
      if [ "$child_os/$child_arch" = "$target_os/$target_arch" ] &&
        { [ -z "$target_variant" ] || [ "$child_variant" = "$target_variant" ]; }; then
        identifier=$(json string "$1/manifest.json" manifests "$i" digest)
        accept=$(json string "$1/manifest.json" manifests "$i" mediaType)
        media_type=$accept
        break
      fi
      i=$((i + 1))
    done
    [ -n "$identifier" ] ||
      die "$PULL_FAILED no child with platform $target_os/$target_arch${target_variant:+/$target_variant} in index $shown"
    shown=$pull_host/$pull_repository@$identifier
  done

  # The config (remote.Image's ConfigFile, read by getRemoteOnBuild, dockerfile.go:481-495).
  get_blob "$(json string "$1/manifest.json" config digest)" "$1/config.json" || die "error building image: $pull_error"
  layers=$(json length "$1/manifest.json" layers)
  i=0
  while [ "$i" -lt "$layers" ]; do
    layer_type=$(json string "$1/manifest.json" layers "$i" mediaType)
    [ "$layer_type" = application/vnd.docker.image.rootfs.diff.tar.gzip ] ||
      die "error building image: the kaniko stand-in takes gzip Docker layers only; $shown has $layer_type"
    printf '%s %s\n' "$(json string "$1/manifest.json" layers "$i" digest)" "$(json raw "$1/manifest.json" layers "$i" size)"
    i=$((i + 1))
  done > "$1/layers"
}

# `base_layers DIR PREFIX`: the base's layer blobs in DIR as <hex>.tar.gz, fetched once; a failure
# is printed after PREFIX, kaniko's wrapping where it reads them.
base_layers() {
  IFS="$(printf '\t')" read -r pull_host pull_repository < "$1/source"
  while read -r layer_digest layer_size; do
    [ -f "$1/${layer_digest#sha256:}.tar.gz" ] && continue
    get_blob "$layer_digest" "$1/${layer_digest#sha256:}.tar.gz" || die "$2$pull_error"
  done < "$1/layers"
}

# kaniko resolves every stage's base before it builds any (MakeKanikoStages, last stage first).
sort -rn "$work/stages" | while IFS='|' read -r stage stage_name base; do
  [ -z "$stage_name" ] || echo "$INFO Resolved base name of $stage_name to $base"
  [ "$base" != scratch ] || continue
  base_lower=$(printf '%s' "$base" | tr '[:upper:]' '[:lower:]')
  if awk -F '|' -v s="$stage" -v b="$base_lower" '$1 < s && $2 == b { found = 1 } END { exit !found }' "$work/stages"; then
    die "error building image: the kaniko stand-in builds no stage FROM an earlier stage ($base)"
  fi
  pull_base "$work/stage-$stage" "$base"
done

# The environment of a RUN line in $work/run-env (NUL-separated; a later entry wins): HOME=/root
# unless set, the stage config's Env, then the declared ARGs, which win over it
# (FF_KANIKO_BUILDKIT_ARG_ENV_PRECEDENCE, true at v1.28.2, buildargs.go:87-117), each valued by a
# --build-arg, else its default, else a global ARG's value, else a predefined arg (getBuildArg),
# and the proxy build args kaniko always passes (buildargs.go:31-44).
run_env() {
  {
    printf 'HOME=/root\0'
    if [ -f "$stage_dir/config.json" ]; then
      count=$(json length "$stage_dir/config.json" config Env 2>/dev/null) || count=0
      i=0
      while [ "$i" -lt "$count" ]; do
        printf '%s\0' "$(json string "$stage_dir/config.json" config Env "$i")"
        i=$((i + 1))
      done
    else
      printf 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\0'
    fi
    while IFS= read -r -d '' declared; do
      arg_name=${declared%%=*}
      if lookup /tmp/standin-build-args "$arg_name"; then
        printf '%s=%s\0' "$arg_name" "$value"
      elif [ "$declared" != "$arg_name" ]; then
        printf '%s\0' "$declared"
      elif lookup "$work/meta-args" "$arg_name" || lookup "$work/predefined" "$arg_name"; then
        printf '%s=%s\0' "$arg_name" "$value"
      fi
    done < "$work/stage-args"
    for proxy in HTTP_PROXY http_proxy HTTPS_PROXY https_proxy FTP_PROXY ftp_proxy NO_PROXY no_proxy ALL_PROXY all_proxy; do
      ! lookup /tmp/standin-build-args "$proxy" || printf '%s=%s\0' "$proxy" "$value"
    done
  } > "$work/run-env"
}

# `run_command ROOT COMMAND`: COMMAND with /bin/sh -c in kaniko's RUN environment, chrooted into
# ROOT unless it is empty (a scratch stage runs in the sandbox root).
run_command() {
  set -- "$1" "$2"
  while IFS= read -r -d '' entry; do set -- "$@" "$entry"; done < "$work/run-env"
  run_root=$1 run_line=$2
  shift 2
  if [ -n "$run_root" ]; then
    env -i "$@" chroot "$run_root" /bin/sh -c "$run_line" < /dev/null
  else
    env -i "$@" /bin/sh -c "$run_line" < /dev/null
  fi
}

# Pass 2: the stages in order.
stage=0 in_image=no cache_key='' seen_from=no
history='' history_sep='' layer_made=no
while IFS= read -r instruction; do
  keyword=$(printf '%s' "${instruction%% *}" | tr '[:lower:]' '[:upper:]')
  # The global ARGs are no stage's instructions: nothing to log or run.
  [ "$keyword" = FROM ] || [ "$seen_from" = yes ] || continue
  cache_key=$(printf '%s\n%s' "$cache_key" "$instruction" | sha256sum | cut -d' ' -f1)
  if [ "$keyword" = FROM ]; then
    stage=$((stage + 1)) in_image=no seen_from=yes cache_key=$(printf '%s' "$instruction" | sha256sum | cut -d' ' -f1)
    [ "$stage" != "$image_stage" ] || in_image=yes
    stage_dir=$work/stage-$stage stage_root=''
    : > "$work/stage-args"
    if [ -f "$stage_dir/config.json" ] && [ -s "$stage_dir/first-run" ]; then
      echo "$INFO Unpacking rootfs as cmd $(cat "$stage_dir/first-run") requires it."
      base_layers "$stage_dir" "error building image: error building stage: failed to get filesystem from image: "
      stage_root=$stage_dir/root
      mkdir -p "$stage_root"
      while read -r layer_digest layer_size; do
        ! tar -tzf "$stage_dir/${layer_digest#sha256:}.tar.gz" | grep -qE '(^|/)\.wh\.' ||
          die "error building image: the kaniko stand-in applies no whiteouts (layer $layer_digest)"
        tar -xzf "$stage_dir/${layer_digest#sha256:}.tar.gz" -C "$stage_root"
      done < "$stage_dir/layers"
    fi
    continue
  fi
  echo "$INFO $instruction"
  empty=true
  case $keyword in
    ARG)
      declared=$(arg_entry "${instruction#* }")
      printf '%s\0' "$declared" >> "$work/stage-args"
      ;;
    RUN)
      run_env
      if ! run_command "$stage_root" "${instruction#* }"; then
        die "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 1"
      fi
      if [ "$cache" = true ] && [ "$in_image" = yes ]; then
        context_layer
        push_cache_entry "$cache_key" "$work/layer.tar" "$work/layer.tar.gz" "$instruction"
      elif [ "$cache" = true ]; then
        mkdir -p "$work/stage-$stage/cached"
        printf 'built by stage %s\n' "$stage" > "$work/stage-$stage/cached/stage.txt"
        (cd "$work/stage-$stage/cached" && tar -cf ../cached.tar stage.txt)
        gzip -n -c "$work/stage-$stage/cached.tar" > "$work/stage-$stage/cached.tar.gz"
        push_cache_entry "$cache_key" "$work/stage-$stage/cached.tar" "$work/stage-$stage/cached.tar.gz" "$instruction"
      fi
      ;;
    COPY | ADD)
      if [ "$in_image" = yes ] && [ "$layer_made" = no ]; then
        context_layer
        layer_made=yes empty=false
      fi
      ;;
  esac
  [ "$in_image" = yes ] || continue
  entry="{\"created\":\"$created\",\"created_by\":$(json_string "$instruction"),\"author\":\"kaniko\""
  [ "$empty" = true ] && entry="$entry,\"empty_layer\":true"
  history="$history$history_sep$entry}"
  history_sep=,
done < "$instructions"

# The image's layers: the base's (fetched when no RUN needed them; kaniko reads them when it writes
# the tarball, push.go:252-262), then the build context's.
base_dir=$work/stage-$image_stage
diff_ids='' layers_json='' layer_files='' manifest_layers='' separator=''
if [ -f "$base_dir/config.json" ]; then
  base_layers "$base_dir" "error pushing image: writing tarball to file failed: "
  i=0
  while read -r layer_digest layer_size; do
    hex=${layer_digest#sha256:}
    cp "$base_dir/$hex.tar.gz" "$work/out/$hex.tar.gz"
    diff_ids="$diff_ids$separator$(json raw "$base_dir/config.json" rootfs diff_ids "$i")"
    layers_json="$layers_json$separator\"$hex.tar.gz\""
    case " $layer_files " in *" $hex.tar.gz "*) ;; *) layer_files="$layer_files $hex.tar.gz" ;; esac
    manifest_layers="$manifest_layers$separator{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":$layer_size,\"digest\":\"$layer_digest\"}"
    separator=, i=$((i + 1))
  done < "$base_dir/layers"
  base_history=$(json raw "$base_dir/config.json" history 2>/dev/null | sed -e '1s/^[[:space:]]*\[//' -e '$s/\][[:space:]]*$//')
  if printf '%s' "$base_history" | grep -q '[^[:space:]]'; then
    history="$base_history${history:+,$history}"
  fi
fi
if [ "$layer_made" = yes ]; then
  layer_hex=$(sha256_of "$work/layer.tar.gz")
  mv "$work/layer.tar.gz" "$work/out/$layer_hex.tar.gz"
  diff_ids="$diff_ids$separator\"sha256:$(sha256_of "$work/layer.tar")\""
  layers_json="$layers_json$separator\"$layer_hex.tar.gz\""
  layer_files="$layer_files $layer_hex.tar.gz"
  manifest_layers="$manifest_layers$separator{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":$(size_of "$work/out/$layer_hex.tar.gz"),\"digest\":\"sha256:$layer_hex\"}"
fi

# The config's `config`: the base's members (kaniko keeps its whole config, blanking OnBuild and
# giving a scratch base the default PATH, build.go:229-259), its Labels with --label over them.
config_members='' separator=''
if [ -f "$base_dir/config.json" ]; then
  json keys "$base_dir/config.json" config > "$work/config-keys" 2>/dev/null || : > "$work/config-keys"
  while IFS= read -r member; do
    case $member in Labels | OnBuild) continue ;; esac
    config_members="$config_members$separator$(json_string "$member"):$(json raw "$base_dir/config.json" config "$member")"
    separator=,
  done < "$work/config-keys"
  json keys "$base_dir/config.json" config Labels 2>/dev/null | while IFS= read -r label; do
    printf '%s=%s\n' "$label" "$(json raw "$base_dir/config.json" config Labels "$label")"
  done > "$work/labels"
else
  : > "$work/config-keys"
  : > "$work/labels"
fi
grep -qx Env "$work/config-keys" || {
  config_members="$config_members$separator\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"]"
  separator=,
}
while IFS= read -r -d '' label; do
  printf '%s=%s\n' "${label%%=*}" "$(json_string "${label#*=}")"
done < /tmp/standin-labels >> "$work/labels"
# One value per key, the last one written; keys in byte order, as Go marshals a map.
labels_json=$(awk '{ i = index($0, "="); v[substr($0, 1, i - 1)] = substr($0, i + 1) } END { for (k in v) print k "=" v[k] }' \
  "$work/labels" | sort -t= -k1,1 |
  while IFS= read -r label; do printf '%s:%s,' "$(json_string "${label%%=*}")" "${label#*=}"; done)
[ -z "$labels_json" ] || config_members="$config_members$separator\"Labels\":{${labels_json%,}}"

# Key order of go-containerregistry's v1.ConfigFile; the platform of --custom-platform as written.
variant_json=''
[ -z "$target_variant" ] || variant_json=",\"variant\":$(json_string "$target_variant")"
printf '{"architecture":%s,"created":"%s","history":[%s],"os":%s,"rootfs":{"type":"layers","diff_ids":[%s]},"config":{%s}%s}' \
  "$(json_string "$target_arch")" "$created" "$history" "$(json_string "$target_os")" "$diff_ids" "$config_members" \
  "$variant_json" > "$work/config.json"
config_hex=$(sha256_of "$work/config.json")
mv "$work/config.json" "$work/out/sha256:$config_hex"
printf '[{"Config":"sha256:%s","RepoTags":[%s],"Layers":[%s]}]' \
  "$config_hex" "$(json_string "$destination")" "$layers_json" > "$work/out/manifest.json"

mkdir -p "$(dirname "$tar_path")"
# shellcheck disable=SC2086 # layer_files: file names without spaces
(cd "$work/out" && tar -cf "$tar_path" "sha256:$config_hex" $layer_files manifest.json)

if [ -n "$digest_file" ]; then
  printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%s,"digest":"sha256:%s"},"layers":[%s]}' \
    "$(size_of "$work/out/sha256:$config_hex")" "$config_hex" "$manifest_layers" > "$work/manifest"
  printf 'sha256:%s' "$(sha256_of "$work/manifest")" > "$digest_file"
fi
echo "$INFO Skipping push to container registry due to --no-push flag"
