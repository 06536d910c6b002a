#!/bin/sh
# A STAND-IN for kaniko's /kaniko/executor, used only by the tests. It is NOT kaniko.
#
# It runs inside the test sandbox root (busybox) and speaks the executor's argv interface:
# pflag-style flags (`--flag value` or `--flag=value`; boolean flags take no separate value),
# an error for unknown flags, and the checks the real executor makes (--force outside a
# container, --destination with --tar-path, a known --snapshot-mode, an existing Dockerfile and
# --target stage). It logs each instruction the way kaniko's default `color` format does
# (`INFO[0000] RUN …`), runs RUN lines with /bin/sh in the sandbox root, and writes a valid
# docker-archive tarball (config `sha256:<hex>`, gzip layer `<hex>.tar.gz` holding the build
# context, manifest.json) to --tar-path and the Docker manifest digest to --digest-file.
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

mkdir -p /tmp
printf '%s\0' "$@" > /tmp/standin-argv

force=no no_push=no reproducible=no cache=no
context='' dockerfile='' destination='' tar_path='' digest_file='' target='' snapshot_mode=full cache_repo=''
labels_json='' label_sep=''
: > /tmp/standin-build-args
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
    --build-arg)
      case $value in
        *=*) printf '%s\0' "$value" ;;
        *) printf '%s=%s\0' "$value" "$(env | sed -n "s/^$value=//p")" ;;
      esac >> /tmp/standin-build-args
      ;;
    --label)
      key=${value%%=*}
      labels_json="$labels_json$label_sep$(json_string "$key"):$(json_string "${value#*=}")"
      label_sep=,
      ;;
  esac
done

[ "$force" = true ] || die "Error: kaniko should only be run inside of a container, run with the --force flag if you are sure you want to continue"
case $snapshot_mode in full | redo | time) ;; *) die "Error: $snapshot_mode is not a valid snapshot mode" ;; esac
[ -n "$tar_path" ] && [ -z "$destination" ] && die "Error: you must provide --destination if setting --tar-path"
[ "$no_push" = true ] || [ -n "$destination" ] || die "Error: you must provide --destination, or use --no-push"
case $context in dir://*) context_dir=${context#dir://} ;; *) die "Error: unsupported context $context" ;; esac
[ -d "$context_dir" ] || die "Error: context directory $context_dir does not exist"
[ -f "$dockerfile" ] || die "Error: error resolving dockerfile path: please provide a valid path to a Dockerfile within the build context with --dockerfile"

# Plain HTTP/1.1 to the cache registry: `http METHOD PATH [BODY_FILE [CONTENT_TYPE]]` sets
# $status and $location (its path: an absolute URL loses scheme and host). The request side stays
# open until the answer came (up to 30 s): busybox nc half-closes the connection at the end of its
# input, which a Go client never does and which Node's HTTP server takes as an abort.
http() {
  body=${3:-}
  length=0
  [ -z "$body" ] || length=$(size_of "$body")
  rm -f /tmp/standin-http
  # shellcheck disable=SC2094 # on purpose: the answer nc writes there ends the wait
  {
    printf '%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %s\r\nConnection: close\r\n\r\n' \
      "$1" "$2" "$cache_host" "${4:-application/octet-stream}" "$length"
    [ -z "$body" ] || cat "$body"
    waited=0
    while [ ! -s /tmp/standin-http ] && [ "$waited" -lt 3000 ]; do
      usleep 10000
      waited=$((waited + 1))
    done
  } | nc "${cache_host%:*}" "${cache_host##*:}" > /tmp/standin-http 2>/dev/null || true
  status=$(tr -d '\r' < /tmp/standin-http | sed -n '1s/^HTTP\/1\.[01] \([0-9]*\).*/\1/p')
  location=$(tr -d '\r' < /tmp/standin-http | sed -n 's/^[Ll]ocation: //p')
  location=${location#http://"$cache_host"}
}

# HEAD, then POST, PATCH and PUT ?digest= unless the registry has it; false on any other answer.
push_blob() {
  blob_digest=sha256:$(sha256_of "$1")
  http HEAD "/v2/$cache_path/blobs/$blob_digest"
  [ "$status" = 200 ] && return 0
  http POST "/v2/$cache_path/blobs/uploads/"
  [ "$status" = 202 ] && [ -n "$location" ] || return 1
  http PATCH "$location" "$1"
  [ "$status" = 202 ] && [ -n "$location" ] || return 1
  case $location in *\?*) separator='&' ;; *) separator='?' ;; esac
  http PUT "$location${separator}digest=sha256%3A${blob_digest#sha256:}"
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
    http PUT "/v2/$cache_path/manifests/$1" "$entry.manifest" application/vnd.docker.distribution.manifest.v2+json &&
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
  http POST "/v2/$cache_path/blobs/uploads/"
  [ "$status" = 202 ] || [ "$status" = 201 ] ||
    die "error checking push permissions: checking push permission for \"$cache_repo\": POST http://$cache_host/v2/$cache_path/blobs/uploads/: unexpected status code ${status:-none (no answer)}"
  [ -z "$location" ] || http DELETE "$location"
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
# The image is the --target stage, or the last one.
stages=$(grep -ciE '^FROM[[:space:]]' "$instructions" || true)
stage=0 in_image=no cache_key=''
history='' history_sep='' layer_made=no
while IFS= read -r instruction; do
  keyword=$(printf '%s' "${instruction%% *}" | tr '[:lower:]' '[:upper:]')
  cache_key=$(printf '%s\n%s' "$cache_key" "$instruction" | sha256sum | cut -d' ' -f1)
  if [ "$keyword" = FROM ]; then
    stage=$((stage + 1)) in_image=no cache_key=$(printf '%s' "$instruction" | sha256sum | cut -d' ' -f1)
    if [ -n "$target" ]; then
      printf '%s\n' "$instruction" | grep -qiE "[[:space:]]AS[[:space:]]+$target\$" && in_image=yes
    elif [ "$stage" = "$stages" ]; then
      in_image=yes
    fi
    continue
  fi
  echo "$INFO $instruction"
  empty=true
  case $keyword in
    RUN)
      if ! /bin/sh -c "${instruction#* }"; then
        die "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 1"
      fi
      if [ "$cache" = true ] && [ "$in_image" = yes ]; then
        context_layer
        push_cache_entry "$cache_key" "$work/layer.tar" "$work/layer.tar.gz" "$instruction"
      elif [ "$cache" = true ]; then
        mkdir -p "$work/stage-$stage"
        printf 'built by stage %s\n' "$stage" > "$work/stage-$stage/stage.txt"
        (cd "$work/stage-$stage" && tar -cf ../stage-$stage.tar stage.txt)
        gzip -n -c "$work/stage-$stage.tar" > "$work/stage-$stage.tar.gz"
        push_cache_entry "$cache_key" "$work/stage-$stage.tar" "$work/stage-$stage.tar.gz" "$instruction"
      fi
      ;;
    COPY | ADD)
      if [ "$layer_made" = no ]; then
        context_layer
        layer_made=yes empty=false
      fi
      ;;
  esac
  entry="{\"created\":\"$created\",\"created_by\":$(json_string "$instruction"),\"author\":\"kaniko\""
  [ "$empty" = true ] && entry="$entry,\"empty_layer\":true"
  history="$history$history_sep$entry}"
  history_sep=,
done < "$instructions"

diff_ids='' layers_json='' layer_files='' manifest_layers=''
if [ "$layer_made" = yes ]; then
  layer_hex=$(sha256_of "$work/layer.tar.gz")
  mv "$work/layer.tar.gz" "$work/out/$layer_hex.tar.gz"
  diff_ids="\"sha256:$(sha256_of "$work/layer.tar")\""
  layers_json="\"$layer_hex.tar.gz\""
  layer_files="$layer_hex.tar.gz"
  manifest_layers="{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":$(size_of "$work/out/$layer_hex.tar.gz"),\"digest\":\"sha256:$layer_hex\"}"
fi

printf '{"architecture":"amd64","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Labels":{%s}},"created":"%s","history":[%s],"os":"linux","rootfs":{"type":"layers","diff_ids":[%s]}}' \
  "$labels_json" "$created" "$history" "$diff_ids" > "$work/config.json"
config_hex=$(sha256_of "$work/config.json")
mv "$work/config.json" "$work/out/sha256:$config_hex"
printf '[{"Config":"sha256:%s","RepoTags":[%s],"Layers":[%s]}]' \
  "$config_hex" "$(json_string "$destination")" "$layers_json" > "$work/out/manifest.json"

mkdir -p "$(dirname "$tar_path")"
# shellcheck disable=SC2086 # layer_files is empty or one file name without spaces
(cd "$work/out" && tar -cf "$tar_path" "sha256:$config_hex" $layer_files manifest.json)

if [ -n "$digest_file" ]; then
  printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%s,"digest":"sha256:%s"},"layers":[%s]}' \
    "$(size_of "$work/out/sha256:$config_hex")" "$config_hex" "$manifest_layers" > "$work/manifest"
  printf 'sha256:%s' "$(sha256_of "$work/manifest")" > "$digest_file"
fi
echo "$INFO Skipping push to container registry due to --no-push flag"
