# netns-lib.sh: what netns.sh and nat.sh share; sourced, not run.

# Remove namespace $1 and whatever still runs inside it (a daemon started there, or by a test);
# fine if it is already gone. Deleting a namespace deletes its veth ends, and so the pairs.
remove_namespace () {
  local ns=$1 pids
  for _ in $(seq 50); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -n $pids ]] || break
    # shellcheck disable=SC2086 # the pids are words
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  ip netns del "$ns" 2>/dev/null || true
}
