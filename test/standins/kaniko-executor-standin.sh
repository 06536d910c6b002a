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
context='' dockerfile='' destination='' tar_path='' digest_file='' target='' snapshot_mode=full
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
history='' history_sep='' layer_made=no
while IFS= read -r instruction; do
  keyword=$(printf '%s' "${instruction%% *}" | tr '[:lower:]' '[:upper:]')
  [ "$keyword" = FROM ] && continue
  echo "$INFO $instruction"
  empty=true
  case $keyword in
    RUN)
      if ! /bin/sh -c "${instruction#* }"; then
        die "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 1"
      fi
      ;;
    COPY | ADD)
      if [ "$layer_made" = no ]; then
        (cd "$context_dir" && tar -cf "$work/layer.tar" .)
        gzip -n -c "$work/layer.tar" > "$work/layer.tar.gz"
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
