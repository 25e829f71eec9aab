#!/usr/bin/env bash
# Example replication agent for the rbp checkpoint contract (docs/replication-agent.md).
# Receives "Checkpoint Requested" / "Checkpoint Released" events from SQS and answers a request by
# quiescing the application, writing the metadata file, marking the checkpoint in the replication
# stream, waiting until it is on the replica, and tagging the replica volumes.
set -euo pipefail

: "${RBP_QUEUE_URL:?set RBP_QUEUE_URL to the SQS queue the EventBridge rule feeds}"
: "${RBP_SERVER_ID:?set RBP_SERVER_ID to the id of this server (rbp:source-server)}"
RBP_QUIESCE_CMD=${RBP_QUIESCE_CMD:-true}          # e.g. 'fsfreeze -f /data' or a database's backup-begin
RBP_RESUME_CMD=${RBP_RESUME_CMD:-true}            # undoes RBP_QUIESCE_CMD; always run, even on failure
RBP_MARK_CMD=${RBP_MARK_CMD:-true}                # marks $RBP_CHECKPOINT_ID in the replication stream
RBP_FLUSHED_CMD=${RBP_FLUSHED_CMD:-true}          # returns 0 once everything up to the mark is on the replica
RBP_RELEASE_CMD=${RBP_RELEASE_CMD:-true}          # lets the replication engine apply writes after the mark
RBP_METADATA_CMD=${RBP_METADATA_CMD:-true}        # writes the application metadata file (docs/application-metadata.md)
RBP_FLUSH_POLL_SECONDS=${RBP_FLUSH_POLL_SECONDS:-5} # how often to ask whether the mark reached the replica
RBP_QUIESCE_MAX_SECONDS=${RBP_QUIESCE_MAX_SECONDS:-30} # longest the application may stay quiesced
RBP_RESUME_ATTEMPTS=${RBP_RESUME_ATTEMPTS:-3}     # a resume that fails leaves the application frozen: try again
RBP_RESUME_RETRY_SECONDS=${RBP_RESUME_RETRY_SECONDS:-1} # pause between resume attempts

once=false
dry_run=false
for arg in "$@"; do
  case "$arg" in
    --once) once=true ;;
    --dry-run) dry_run=true ;;
    *) echo "usage: $0 [--once] [--dry-run]" >&2; exit 64 ;;
  esac
done

log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" "$*" >&2; }
aws_call() { if $dry_run; then echo "aws $*"; else aws "$@"; fi; }

# Sets the checkpoint tags on every replica volume of the request (replica-tags.md rule 1: one call).
tag_volumes() {
  local checkpoint_id=$1 checkpoint_time=$2; shift 2
  aws_call ec2 create-tags --resources "$@" --tags \
    "Key=rbp:checkpoint-id,Value=${checkpoint_id}" \
    "Key=rbp:checkpoint-time,Value=${checkpoint_time}" \
    "Key=rbp:sync-state,Value=IN_SYNC" \
    "Key=rbp:backlog-bytes,Value=0"
}

# RESUME: undoes the quiesce. Runs after every quiesce attempt, whether quiesce, metadata or mark
# succeeded, failed or timed out, and when the agent itself is stopped in between (EXIT trap).
quiesced=false
resume() {
  $quiesced || return 0
  quiesced=false
  local attempt
  for ((attempt = 1; attempt <= RBP_RESUME_ATTEMPTS; attempt++)); do
    if bash -c "$RBP_RESUME_CMD"; then return 0; fi
    log "resume attempt $attempt of $RBP_RESUME_ATTEMPTS failed"
    sleep "$RBP_RESUME_RETRY_SECONDS"
  done
  log "RESUME FAILED $RBP_RESUME_ATTEMPTS times: the application may still be quiesced"
  return 1
}
window_pid=''
# Stopped (or failed) while quiesced: end the window's hooks (timeout forwards the signal), resume.
on_exit() {
  if [[ -n $window_pid ]]; then kill "$window_pid" 2>/dev/null || true; fi
  resume || true
}
trap on_exit EXIT
trap 'exit 143' TERM INT

# Quiesce, write the metadata file, mark: the application pauses only for the mark, and never
# longer than RBP_QUIESCE_MAX_SECONDS (timeout ends a hung step). Returns the window's status.
quiesce_window() {
  local status=0
  quiesced=true
  # In the background and waited for: a TERM to the agent interrupts `wait` at once.
  timeout --kill-after=5 "$RBP_QUIESCE_MAX_SECONDS" \
    bash -ec "$RBP_QUIESCE_CMD"$'\n'"$RBP_METADATA_CMD"$'\n'"$RBP_MARK_CMD" \
    </dev/null &
  window_pid=$!
  wait "$window_pid" || status=$?
  window_pid=''
  resume || true
  return "$status"
}

handle_request() {
  local detail=$1
  local checkpoint_id deadline volumes checkpoint_time status=0
  checkpoint_id=$(jq -r '.checkpointId' <<<"$detail")
  deadline=$(jq -r '.deadline' <<<"$detail")
  mapfile -t volumes < <(jq -r '.volumeIds[]' <<<"$detail")
  export RBP_CHECKPOINT_ID=$checkpoint_id
  log "checkpoint $checkpoint_id requested for ${volumes[*]} (deadline $deadline)"

  checkpoint_time=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
  quiesce_window || status=$?
  if ((status != 0)); then
    # Nothing is tagged: the backup reports the replica not in sync at its deadline.
    log "checkpoint $checkpoint_id not taken: quiesce, metadata or mark ended with status $status$( ((status == 124)) && echo " (timed out after ${RBP_QUIESCE_MAX_SECONDS}s)"); the application was resumed"
    return 0
  fi

  until bash -c "$RBP_FLUSHED_CMD"; do
    if [[ $(date -u +%Y-%m-%dT%H:%M:%S.000Z) > "$deadline" ]]; then
      log "checkpoint $checkpoint_id did not reach the replica before $deadline; the backup will report it"
      return 0
    fi
    sleep "$RBP_FLUSH_POLL_SECONDS"
  done
  tag_volumes "$checkpoint_id" "$checkpoint_time" "${volumes[@]}"
  log "checkpoint $checkpoint_id reported in sync"
}

handle_release() {
  local detail=$1
  export RBP_CHECKPOINT_ID
  RBP_CHECKPOINT_ID=$(jq -r '.checkpointId' <<<"$detail")
  log "checkpoint $RBP_CHECKPOINT_ID released (snapshots $(jq -r '.snapshotIds | join(",")' <<<"$detail"))"
  bash -c "$RBP_RELEASE_CMD"
}

while true; do
  message=$(aws sqs receive-message --queue-url "$RBP_QUEUE_URL" --max-number-of-messages 1 \
    --wait-time-seconds 20 --output json)
  body=$(jq -r '.Messages[0].Body // empty' <<<"$message")
  if [[ -n $body ]]; then
    receipt=$(jq -r '.Messages[0].ReceiptHandle' <<<"$message")
    detail=$(jq -c '.detail' <<<"$body")
    if [[ $(jq -r '.version' <<<"$detail") != 1 || $(jq -r '.serverId' <<<"$detail") != "$RBP_SERVER_ID" ]]; then
      log "ignoring an event for another server or an unknown version"
    else
      case $(jq -r '."detail-type"' <<<"$body") in
        'Checkpoint Requested') handle_request "$detail" ;;
        'Checkpoint Released') handle_release "$detail" ;;
      esac
    fi
    aws_call sqs delete-message --queue-url "$RBP_QUEUE_URL" --receipt-handle "$receipt"
  fi
  $once && break
done
