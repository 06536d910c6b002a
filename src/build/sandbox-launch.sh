#!/bin/sh
# The sandbox launcher: PID 1 of a new PID namespace (and of a new network namespace unless the
# runner's is chosen), in a private mount namespace with its own /proc. It mounts the root, waits
# for the action's word that the network is ready, then runs runc, which enters the root with
# pivot_root and applies the capabilities, masks and seccomp profile of the runtime configuration.
#
# Its stdin is the action's lifeline: when the action's process ends for any reason, even
# SIGKILL, the pipe closes, runc is killed, the launcher returns, and the kernel kills every
# process left in the PID namespace, the build's included. Every value is a positional argument;
# the program's environment travels in the runtime configuration file, never in argv.
#
# Arguments: PATH strategy lower upper work root control runc-root bundle id.
# It writes these files into the control folder (src/build/sandbox.ts reads them by these names):
#   setup-failed         it failed before runc started
#   overlay-unavailable  overlayfs cannot be mounted here
#   root-ready           the root is in place; it now waits for its network
#   runc.log             runc's own log (JSON lines)
set -eu
PATH=$1
sb_strategy=$2 sb_lower=$3 sb_upper=$4 sb_work=$5 sb_root=$6 sb_control=$7
sb_runc_root=$8 sb_bundle=$9
shift 9
sb_id=$1
trap '[ "$?" = 0 ] || : > "$sb_control/setup-failed"' EXIT
if [ "$sb_strategy" = overlay ]; then
  sb_layers="lowerdir=$sb_lower,upperdir=$sb_upper,workdir=$sb_work"
  # volatile (Linux 5.10+): the upper folder is thrown away after the build, so nothing written
  # there is synced to disk, not even when the overlay is unmounted; older kernels refuse the option.
  if ! mount -t overlay overlay -o "$sb_layers,volatile" "$sb_root" 2> /dev/null &&
    ! mount -t overlay overlay -o "$sb_layers" "$sb_root"; then
    echo "sandbox: overlayfs cannot be mounted here" >&2
    : > "$sb_control/overlay-unavailable"
    exit 1
  fi
fi
: > "$sb_control/root-ready"
exec 3<&0
read -r sb_go <&3
[ "$sb_go" = go ]
trap - EXIT
runc --root "$sb_runc_root" --log "$sb_control/runc.log" --log-format json run --bundle "$sb_bundle" "$sb_id" < /dev/null &
sb_runc=$!
( cat <&3 > /dev/null; kill -KILL "$sb_runc" 2> /dev/null ) &
wait "$sb_runc"
