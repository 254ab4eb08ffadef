#!/bin/sh
# vkrt-chat's Ctrl-C: a SIGINT while a reply runs cancels the reply, not the program; the next
# line gets its reply (cancelled the same way), and the end of input ends the program with 0.
# Each SIGINT is sent once the reply is streaming (stdout grew), never on a timer.
# Usage: chat_ctrl_c.sh VKRT_CHAT MODEL WORK_DIR
set -u
chat=$1 model=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
fifo=$work/in out=$work/out err=$work/err
mkfifo "$fifo"
"$chat" -m "$model" -n 1000000 --temp 0 -c 64 < "$fifo" > "$out" 2> "$err" &
pid=$!
exec 3> "$fifo"

size() { wc -c < "$1"; }
# wait_for CONDITION...: polls for up to 120 s (a loaded machine, the validation layer on)
wait_for() {
    i=0
    while ! eval "$1"; do
        i=$((i + 1))
        [ $i -gt 1200 ] && { echo "timed out waiting for: $1"; cat "$err"; kill -9 $pid; exit 1; }
        kill -0 $pid 2>/dev/null || { echo "vkrt-chat ended early"; cat "$err"; exit 1; }
        sleep 0.1
    done
}

for turn in 1 2; do
    before=$(size "$out")
    printf 'Once upon a time\n' >&3
    wait_for "[ \$(size \"$out\") -gt $((before + 200)) ]"  # the reply streams
    kill -INT $pid
    wait_for "[ \$(grep -c 'cancelled:' \"$err\") -ge $turn ]"
done
exec 3>&-  # end of input
wait $pid
rc=$?
cat "$err"
[ $rc -eq 0 ] || { echo "vkrt-chat exited with $rc"; exit 1; }
echo "ctrl-c: 2 replies cancelled, vkrt-chat went on and ended with 0"
