#!/bin/sh
# Run by InstallTests inside `unshare -m` (a private mount namespace, as root): hides the
# Swift toolchain's folders under empty tmpfs mounts, then uses an install as an operator
# and a C programmer would on a machine without Swift.
#   hidden-toolchain.sh PREFIX WORK FOLDER...   (FOLDER...: what to hide)
set -eu
prefix=$1 work=$2
shift 2
for folder in "$@"; do
  mount -t tmpfs -o size=1m none "$folder"
  [ -z "$(ls -A "$folder")" ] || { echo "FAIL: $folder is not hidden"; exit 1; }
  echo "hidden: $folder"
done
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
src=$(dirname "$0")/footprint.c
cc -std=c99 -Wall -Wextra -Werror "$src" $(pkg-config --cflags --libs oc_event) -o "$work/fp-ocf"
cc -std=c99 -Wall -Wextra -Werror -DWITH_SAEVT "$src" $(pkg-config --cflags --libs oc_event SaEvt) -o "$work/fp-both"
"$prefix/bin/heraldd" --data-dir "$work/data" --socket "$work/s.sock" > "$work/heraldd.out" 2> "$work/heraldd.err" &
daemon=$!
for _ in $(seq 200); do
  grep -q '^heraldd: serving' "$work/heraldd.out" 2>/dev/null && break
  kill -0 "$daemon" 2>/dev/null || { echo "FAIL: heraldd exited: $(cat "$work/heraldd.err")"; exit 1; }
  sleep 0.05
done
grep -q '^heraldd: serving' "$work/heraldd.out" || { echo "FAIL: heraldd did not start"; exit 1; }
export HERALD_SOCKET="$work/s.sock"
echo "ocf: $("$work/fp-ocf")"
echo "both: $("$work/fp-both")"
printf 'one\ntwo\nthree\n' | "$prefix/bin/herald" publish --channel installed > "$work/ids.txt"
echo "published: $(wc -l < "$work/ids.txt")"
echo "tail: $("$prefix/bin/herald" tail --channel installed --from oldest --count 3 | tr '\n' ' ')"
kill -TERM "$daemon"
status=0
wait "$daemon" || status=$?
echo "heraldd exit: $status"
echo "verify: $("$prefix/bin/herald" journal verify --data-dir "$work/data" 2>&1 | tail -n 1)"
