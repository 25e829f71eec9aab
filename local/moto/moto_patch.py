"""Launcher for the preinstalled moto server (5.2.x) with the fixes the local stack needs.

Usage: MOTO_PORT=<gateway port> python3 moto_patch.py -H 127.0.0.1 -p <moto port>

1. Step Functions: StartExecution deep-copies the StateMachine, which references the backend and
   the threads of earlier executions, so every execution after the first fails with
   "cannot pickle '_thread.RLock' object". StateMachine gets a __deepcopy__ that shares `backend`
   and drops `executions`.
2. EC2 snapshots that the local gateway manages (replica snapshots frozen by the EBS emulator, and
   snapshots made through the EBS direct API) are registered here under the emulator's own ids, and
   their status/progress is set by the gateway, so DescribeSnapshots, filters and waiters see
   pending -> completed. This is a small JSON endpoint under /_rbp/ that only the gateway calls.
3. Step Functions `aws-sdk:*` tasks whose answer has a streaming body (s3:getObject) failed with
   "cannot pickle '_io.BufferedReader' object"; the body is read into a string, which is what
   Step Functions returns for such fields.
4. The server exits when its parent process goes away (no orphans when a test runner is killed),
   and at once on SIGTERM/SIGINT.
5. DynamoDB Query on a table's key sorted every item of the table before picking the partition
   (seconds per Query once a catalog holds ~100,000 items); it now looks the partition up by its
   hash key and sorts only that partition. Index queries are unchanged.
6. DynamoDB TransactWriteItems deep-copied every table it names before running, to roll back on
   failure (1.6 s per transaction with a catalog in the table); it now keeps an undo copy of only
   the items the transaction names and restores those on failure.
7. State across restarts: POST /_rbp/state/save pickles every moto backend in use (the services'
   data: tables, buckets and objects, state machines and executions, schedules, EC2 snapshots) to
   the file named by RBP_MOTO_STATE_FILE, atomically; at start-up that file, when present, is
   loaded back. Locks are pickled as new locks and threads are dropped; an execution that was
   running when the state was saved comes back ABORTED (its thread did not survive).
8. EventBridge rules with Lambda targets: moto's PutEvents raised NotImplementedError (a 500 for
   the whole call) for a matching rule with a Lambda target. Such targets are skipped here; the
   gateway invokes them in process (local/gateway/local-event-rules.ts).
9. DynamoDB Query on a table's key with a sort-key condition still sorted the whole partition and
   walked it from the start for every Query (seconds per page once a path has 10,000 versions).
   Each partition now keeps its sort keys in order (rebuilt only after an item is added to or
   removed from it), and a Query finds the condition's and ExclusiveStartKey's bounds by bisection
   and reads only the items it returns, as DynamoDB reads by key. The answer is exactly moto's own
   (test/local/moto-query-patch.property.test.ts compares both); Queries it does not cover (indexes,
   legacy KeyConditions, other key shapes) go to moto's code unchanged. The end of a begins_with
   range is found by bisection as well (walking it read every version of a path, 10,000 for a page
   of 10: files versions took 4.4 times as long at 10,000 versions as at 10).
10. Step Functions StopExecution dropped the request's `error` and `cause` (moto stopped every
   execution with empty ones); they are passed on, so the ExecutionAborted event carries them as
   Step Functions records them.
11. DynamoDB Query answers were written by moto's generic, model-driven serializer, about 6 ms per
   item returned (1.2 s for a page of 200 versions); the answer's JSON is now written directly
   (json.dumps of the items' DynamoDB JSON), as moto did before its serializer. The parsed answer
   is the same (test/local/moto-query-patch.property.test.ts compares both for every attribute type).
12. EC2 DescribeVolumes ignored MaxResults and NextToken (every matching volume in one answer),
   so a caller's paging was never exercised. It now pages as EC2 documents
   (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html): MaxResults
   5 to 500 (above 500 a page holds 500; below 5 is InvalidParameterValue), not together with
   VolumeIds (InvalidParameterCombination), filters applied before the page is cut, and NextToken
   only while more volumes follow. A paged answer is ordered by volume id and its token names the
   last volume returned, so a volume deleted between pages moves no other across a page boundary;
   a request without MaxResults or NextToken is moto's answer, unchanged
   (test/local/moto-describe-volumes.test.ts).
13. Step Functions RedriveExecution (moto has none: the in-process mock raised NotImplementedError,
   the server answered HTTP 500). A FAILED, ABORTED or TIMED_OUT execution of a STANDARD machine,
   stopped less than 14 days ago, restarts at the top-level state it stopped in, with the input that
   state was entered with; the same ARN, name, start time and $$.Execution.Input; the states that
   succeeded are not run again; its history goes on with an ExecutionRedriven event. Otherwise the
   answer is ExecutionNotRedrivable (400) whose message is DescribeExecution's redriveStatusReason
   for that case, which DescribeExecution now carries too, with redriveCount and redriveDate
   (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html,
   https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html).
   AWS also re-runs only the failed iterations and branches of a Map or Parallel state; this patch
   does not (the product's suspended backups stop at the top-level Task "Await Redrive"), and
   refuses an execution that stopped inside one with a ValidationException that says so
   (test/local/moto-redrive-execution.test.ts).
14. Distributed Map failure thresholds. moto counted a failed child execution of a Map Run and let
   the Map state succeed without that child's output. On AWS a Map Run fails when its failed (or
   timed-out) child executions exceed ToleratedFailureCount or ToleratedFailurePercentage (a
   threshold the state does not declare is not applied; declaring neither tolerates no failure),
   and the Map state then fails with States.ExceedToleratedFailureThreshold, which its Retry and
   Catch see (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html#maprun-fail-threshold,
   https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html). After the
   children finish, the threshold is checked here; beyond it the Map Run is recorded FAILED
   (MapRunFailed with that error and the cause "The specified tolerated failure threshold was
   exceeded", a text not confirmed against AWS) and the Map state fails. AWS stops starting
   children once the threshold is exceeded; here the remaining children still run first. moto's
   grammar also refused an integer ToleratedFailurePercentage (50 rather than 50.0, as JSON
   writers print it); the parser is given it as a float
   (test/local/moto-distributed-map-failures.test.ts).
"""

import _thread
import copy
import io
import json
import os
import pickle
import queue
import sys
import threading
import time

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import utcnow
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_block_store import Snapshot, Volume
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from botocore.response import StreamingBody
from moto.stepfunctions.models import StateMachine
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)

# How often the orphan watchdog checks that the parent is alive: short enough that a killed test
# runner leaves no server behind for long, long enough to cost nothing.
PARENT_POLL_INTERVAL_SECONDS = 0.5


def _state_machine_deepcopy(self, memo):
    clone = self.__class__.__new__(self.__class__)
    memo[id(self)] = clone
    for key, value in self.__dict__.items():
        if key == "backend":
            setattr(clone, key, value)
        elif key == "executions":
            setattr(clone, key, [])
        else:
            setattr(clone, key, copy.deepcopy(value, memo))
    return clone


StateMachine.__deepcopy__ = _state_machine_deepcopy

_original_eval_service_task = StateTaskServiceAwsSdk._eval_service_task


def _eval_service_task(self, env, *args, **kwargs):
    _original_eval_service_task(self, env, *args, **kwargs)
    response = env.stack[-1] if env.stack else None
    if isinstance(response, dict):
        for key, value in list(response.items()):
            if isinstance(value, StreamingBody):
                response[key] = value.read().decode("utf-8", errors="replace")


StateTaskServiceAwsSdk._eval_service_task = _eval_service_task

# --- 10. StopExecution keeps the caller's error and cause.
from moto.core.responses import ActionResult as _ActionResult
from moto.stepfunctions.exceptions import ExecutionDoesNotExist as _ExecutionDoesNotExist
from moto.stepfunctions.responses import StepFunctionResponse as _StepFunctionResponse


def _stop_execution_response(self):
    arn = self._get_param("executionArn")
    backend = self.stepfunction_backend
    backend._validate_execution_arn(arn)
    machine = backend._get_state_machine_for_execution(arn)
    execution = next((x for x in machine.executions if x.execution_arn == arn), None)
    if execution is None:
        raise _ExecutionDoesNotExist("Execution Does Not Exist: '" + arn + "'")
    execution.stop(
        stop_date=utcnow(),
        error=self._get_param("error") or "",
        cause=self._get_param("cause") or "",
    )
    return _ActionResult({"stopDate": execution.stop_date})


_StepFunctionResponse.stop_execution = _stop_execution_response

# --- 8. EventBridge Lambda targets are the gateway's: moto sends to the other targets only.
from moto.events.models import Rule as _EventRule

_original_send_to_targets = _EventRule.send_to_targets


def _send_to_targets(self, *args, **kwargs):
    targets = self.targets
    self.targets = [t for t in targets if not str(t.get("Arn", "")).startswith("arn:aws:lambda:")]
    try:
        return _original_send_to_targets(self, *args, **kwargs)
    finally:
        self.targets = targets


_EventRule.send_to_targets = _send_to_targets

# --- 5. Query by partition: all_items() narrowed to the queried hash key while Table.query runs.
_query_scope = threading.local()
_original_all_items = Table.all_items
_original_table_query = Table.query


def _all_items(self):
    hash_key = getattr(_query_scope, "hash_key", None)
    if hash_key is not None and self.range_key_attr:
        partition = self.items.get(hash_key)
        return list(partition.values()) if partition else []
    return _original_all_items(self)


def _table_query(self, hash_key, *args, **kwargs):
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name or hash_key is None:
        return _original_table_query(self, hash_key, *args, **kwargs)
    _query_scope.hash_key = hash_key
    try:
        return _original_table_query(self, hash_key, *args, **kwargs)
    finally:
        _query_scope.hash_key = None


Table.all_items = _all_items
Table.query = _table_query

# --- 9. Query by key range: bisection over each partition's sort keys, kept in order.
import bisect  # noqa: E402
import inspect  # noqa: E402
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT  # noqa: E402

# Largest item DynamoDB stores (400 KB): while a page holds less than the size limit minus this,
# no further item can make moto stop on size, so the rest of the partition need not be looked at.
_MAX_ITEM_BYTES = 400 * 1024
# Partition (its dict's id) -> (the dict's key set version, sort keys in order).
_sorted_keys_cache = {}
_fast_query_stats = {"fast": 0, "moto": 0}


class _KeyedPartition(dict):
    """A partition dict that counts changes to its key set, so its sorted keys are rebuilt only then."""

    __slots__ = ("rbp_version",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rbp_version = 0

    def __setitem__(self, key, value):
        if key not in self:
            self.rbp_version += 1
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self.rbp_version += 1
        super().__delitem__(key)

    def pop(self, *args):
        self.rbp_version += 1
        return super().pop(*args)

    def popitem(self):
        self.rbp_version += 1
        return super().popitem()

    def clear(self):
        self.rbp_version += 1
        super().clear()

    def update(self, *args, **kwargs):
        self.rbp_version += 1
        super().update(*args, **kwargs)

    def setdefault(self, key, default=None):
        if key not in self:
            self.rbp_version += 1
        return super().setdefault(key, default)

    def __reduce__(self):
        # Saved state (patch 7) stores a plain dict; it becomes a _KeyedPartition on first Query.
        return (dict, (dict(self),))


def _sorted_partition_keys(table, hash_key):
    partition = table.items.get(hash_key)
    if partition is None:
        return None, []
    if not isinstance(partition, _KeyedPartition):
        partition = _KeyedPartition(partition)
        table.items[hash_key] = partition
    cached = _sorted_keys_cache.get(id(partition))
    if cached is not None and cached[0] is partition and cached[1] == partition.rbp_version:
        return partition, cached[2]
    keys = sorted(partition.keys())
    _sorted_keys_cache[id(partition)] = (partition, partition.rbp_version, keys)
    return partition, keys


def _range_window(keys, op, values):
    """[lo, hi) of the keys that satisfy the condition, or None when it is not one of these."""
    n = len(keys)
    if op is None:
        return 0, n
    if op in ("=", "EQ"):
        return bisect.bisect_left(keys, values[0]), bisect.bisect_right(keys, values[0])
    if op in ("<", "LT"):
        return 0, bisect.bisect_left(keys, values[0])
    if op in ("<=", "LE"):
        return 0, bisect.bisect_right(keys, values[0])
    if op in (">", "GT"):
        return bisect.bisect_right(keys, values[0]), n
    if op in (">=", "GE"):
        return bisect.bisect_left(keys, values[0]), n
    if op == "BETWEEN":
        lo = bisect.bisect_left(keys, values[0])
        return lo, max(lo, bisect.bisect_right(keys, values[1]))
    if op == "BEGINS_WITH":
        # Keys with a prefix are contiguous in sort order, from where the prefix itself would go;
        # after them every key is greater and lacks it, so the end is found by bisection too (a
        # linear walk here read all 10,000 versions of a path for a page of 10).
        lo = end = bisect.bisect_left(keys, values[0])
        hi = n
        while end < hi:
            middle = (end + hi) // 2
            if keys[middle].compare(op, values):
                end = middle + 1
            else:
                hi = middle
        return lo, end
    return None


_QUERY_SIGNATURE = inspect.signature(_original_table_query)


def _fast_table_query(self, hash_key, *args, **kwargs):
    bound = _QUERY_SIGNATURE.bind(self, hash_key, *args, **kwargs)
    bound.apply_defaults()
    query = bound.arguments
    range_comparison = query["range_comparison"]
    range_objs = query["range_objs"]
    limit = query["limit"]
    exclusive_start_key = query["exclusive_start_key"]
    scan_index_forward = query["scan_index_forward"]
    projection_expressions = query["projection_expressions"]
    index_name = query["index_name"]
    filter_expression = query["filter_expression"]
    range_key_conditions = query["range_key_conditions"]
    filter_kwargs = query["filter_kwargs"]
    covered = (
        not index_name
        and not filter_kwargs
        and hash_key is not None
        and self.range_key_attr is not None
        and (
            not range_key_conditions
            or (len(range_key_conditions) == 1 and range_key_conditions[0][0] == self.range_key_attr)
        )
        and (range_comparison is None or range_objs)
        and (
            range_comparison != "BEGINS_WITH"
            or (self.range_key_type in ("S", "B") and range_objs[0].type == self.range_key_type)
        )
        and (
            exclusive_start_key is None
            or (
                self.hash_key_attr in exclusive_start_key
                and self.range_key_attr in exclusive_start_key
                and DynamoType(exclusive_start_key[self.hash_key_attr]) == hash_key
                and DynamoType(exclusive_start_key[self.range_key_attr]).type == self.range_key_type
            )
        )
        and all(obj.type == self.range_key_type for obj in (range_objs or []))
    )
    window = None
    if covered:
        partition, keys = _sorted_partition_keys(self, hash_key)
        window = _range_window(keys, range_comparison, range_objs)
    if window is None:
        _fast_query_stats["moto"] += 1
        return _table_query(self, hash_key, *args, **kwargs)
    _fast_query_stats["fast"] += 1
    n = len(keys)
    lo, hi = window
    forward = scan_index_forward is not False
    # Where the walk starts: past ExclusiveStartKey (moto skips keys at or before it).
    if exclusive_start_key is not None:
        start_key = DynamoType(exclusive_start_key[self.range_key_attr])
        start = bisect.bisect_right(keys, start_key) if forward else bisect.bisect_left(keys, start_key) - 1
    else:
        start = 0 if forward else n - 1
    step = 1 if forward else -1
    # The walk over the window, in moto's order; keys before the window never count (an item
    # alone is under the size limit and the page is still empty there).
    position = max(start, lo) if forward else min(start, hi - 1)
    results = []
    result_size = 0
    scanned_count = 0
    last_evaluated_key = None
    stopped = False
    in_window = (lambda i: i < hi) if forward else (lambda i: i >= lo)
    while 0 <= position < n and in_window(position):
        item = partition[keys[position]]
        if len(results) == limit or (result_size + item.size()) > RESULT_SIZE_LIMIT:
            last_evaluated_key = self._get_last_evaluated_key(results[-1], index_name)
            stopped = True
            break
        if range_comparison is None or item.range_key.compare(range_comparison, range_objs):
            results.append(item)
            result_size += item.size()
            scanned_count += 1
        position += step
    if not stopped:
        # moto goes on over the rest of the partition: any item there stops it when the page is
        # full, and one too big for what is left of the size limit stops it too.
        tail = position
        if 0 <= tail < n:
            if len(results) == limit:
                last_evaluated_key = self._get_last_evaluated_key(results[-1], index_name)
            elif results and result_size + _MAX_ITEM_BYTES > RESULT_SIZE_LIMIT:
                while 0 <= tail < n:
                    if result_size + partition[keys[tail]].size() > RESULT_SIZE_LIMIT:
                        last_evaluated_key = self._get_last_evaluated_key(results[-1], index_name)
                        break
                    tail += step
    results = copy.deepcopy(results)
    if filter_expression is not None:
        results = [item for item in results if filter_expression.expr(item)]
    if projection_expressions:
        results = [r.project(projection_expressions) for r in results]
    return results, scanned_count, last_evaluated_key


Table.query = _fast_table_query

# --- 11. Query answers as JSON written directly, not through moto's model-driven serializer.
import base64  # noqa: E402
from moto.core.responses import ActionResult as _QueryActionResult  # noqa: E402
from moto.dynamodb.responses import DynamoHandler as _DynamoHandler  # noqa: E402

_original_query_action = _DynamoHandler.query


def _dynamo_json_default(value):
    if isinstance(value, DynamoType):
        return value.to_json()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("utf-8")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _query_action(self):
    result = _original_query_action(self)
    if not isinstance(result, _QueryActionResult) or not isinstance(result.result, dict):
        return result
    self.response_headers["Content-Type"] = "application/x-amz-json-1.0"
    return json.dumps(result.result, default=_dynamo_json_default)


_DynamoHandler.query = _query_action

# --- 6. TransactWriteItems: undo copies of the named items instead of deep copies of the tables.
_transaction = threading.local()


def _table_deepcopy(self, memo):
    if getattr(_transaction, "active", False):
        return self  # the transaction's "backup": rollback is done from the undo list below
    clone = self.__class__.__new__(self.__class__)
    memo[id(self)] = clone
    for key, value in self.__dict__.items():
        setattr(clone, key, copy.deepcopy(value, memo))
    return clone


Table.__deepcopy__ = _table_deepcopy
_original_transact_write_items = DynamoDBBackend.transact_write_items


def _item_keys(table, attrs):
    try:
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    except (KeyError, TypeError):
        return None
    return hash_key, range_key


def _transact_write_items(self, transact_items):
    undo = []
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        table = self.tables.get(op.get("TableName"))
        if table is None:
            continue
        keys = _item_keys(table, op["Item"] if op_type == "Put" else op.get("Key", {}))
        if keys is None:
            continue
        hash_key, range_key = keys
        holder = table.items.get(hash_key)
        if table.range_key_attr:
            current = holder.get(range_key) if holder else None
        else:
            current = holder
        undo.append((table, hash_key, range_key, copy.deepcopy(current)))
    _transaction.active = True
    try:
        return _original_transact_write_items(self, transact_items)
    except Exception:
        for table, hash_key, range_key, before in reversed(undo):
            if table.range_key_attr:
                if before is None:
                    table.items.get(hash_key, {}).pop(range_key, None)
                else:
                    table.items[hash_key][range_key] = before
            elif before is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = before
        raise
    finally:
        _transaction.active = False


DynamoDBBackend.transact_write_items = _transact_write_items

# Snapshot.progress is a constant "100%" in moto; let the gateway set it.
Snapshot.progress = property(lambda self: getattr(self, "_rbp_progress", "100%"))


def _backend(body):
    return ec2_backends[body.get("accountId") or DEFAULT_ACCOUNT_ID][body.get("region") or "us-east-1"]


def _detached_volume(backend, volume_id, size_gib, region):
    zone = backend.get_zone_by_name(f"{region}a")
    return Volume(backend, volume_id=volume_id, size=size_gib, zone=zone)


def _put_snapshot(body):
    """Create or update a snapshot with a given id (the EBS emulator's id)."""
    backend = _backend(body)
    region = body.get("region") or "us-east-1"
    snapshot_id = body["snapshotId"]
    snapshot = backend.snapshots.get(snapshot_id)
    if snapshot is None:
        volume = backend.volumes.get(body.get("volumeId") or "")
        if volume is None:
            # Snapshots made through the EBS direct API have no source volume (AWS shows vol-ffffffff).
            volume = _detached_volume(backend, body.get("volumeId") or "vol-ffffffff", body["volumeSizeGib"], region)
        snapshot = Snapshot(backend, snapshot_id, volume=volume, description=body.get("description") or "")
        backend.snapshots[snapshot_id] = snapshot
        if body.get("tags"):
            snapshot.add_tags(body["tags"])
    if "status" in body:
        snapshot.status = body["status"]
    if "progress" in body:
        snapshot._rbp_progress = body["progress"]
    return {"snapshotId": snapshot_id, "status": snapshot.status, "progress": snapshot.progress}


def _put_volume(body):
    """Create a volume with a given id (a replica volume re-registered after a restart)."""
    backend = _backend(body)
    volume_id = body["volumeId"]
    if volume_id not in backend.volumes:
        volume = _detached_volume(backend, volume_id, body["sizeGib"], body.get("region") or "us-east-1")
        backend.volumes[volume_id] = volume
        if body.get("tags"):
            volume.add_tags(body["tags"])
    return {"volumeId": volume_id}


# --- 12. DescribeVolumes pages (MaxResults, NextToken).
import base64 as _base64  # noqa: E402
from moto.ec2.exceptions import EC2ClientError as _EC2ClientError  # noqa: E402
from moto.ec2.responses.elastic_block_store import ElasticBlockStore as _ElasticBlockStore  # noqa: E402

# DescribeVolumes' MaxResults bounds (API_DescribeVolumes): below the least is refused, above the
# most a page holds the most.
DESCRIBE_VOLUMES_MIN_RESULTS = 5
DESCRIBE_VOLUMES_MAX_RESULTS = 500
_original_describe_volumes = _ElasticBlockStore.describe_volumes


def _volumes_token(volume_id):
    return _base64.urlsafe_b64encode(json.dumps({"after": volume_id}).encode()).decode()


def _volumes_token_after(token):
    try:
        after = json.loads(_base64.urlsafe_b64decode(token.encode()))["after"]
    except Exception:  # noqa: BLE001 - any token this patch did not write
        after = None
    if not isinstance(after, str):
        raise _EC2ClientError("InvalidNextToken", f"The token '{token}' is invalid")
    return after


def _describe_volumes(self):
    max_results = self._get_param("MaxResults")
    token = self._get_param("NextToken")
    if max_results is None and token is None:
        return _original_describe_volumes(self)
    if self._get_param("VolumeIds", []):
        raise _EC2ClientError(
            "InvalidParameterCombination", "The parameter volumeSet cannot be used with the parameter maxResults"
        )
    if max_results is not None and int(max_results) < DESCRIBE_VOLUMES_MIN_RESULTS:
        raise _EC2ClientError(
            "InvalidParameterValue",
            f"Value ( {int(max_results)} ) for parameter maxResults is invalid. "
            f"Expecting a value greater than {DESCRIBE_VOLUMES_MIN_RESULTS}.",
        )
    limit = min(DESCRIBE_VOLUMES_MAX_RESULTS, int(max_results or DESCRIBE_VOLUMES_MAX_RESULTS))
    matches = sorted(
        self.ec2_backend.describe_volumes(filters=self._filters_from_querystring()), key=lambda v: v.id
    )
    start = 0 if token is None else bisect.bisect_right([v.id for v in matches], _volumes_token_after(token))
    page = matches[start : start + limit]
    result = {"Volumes": page}
    if start + limit < len(matches):
        result["NextToken"] = _volumes_token(page[-1].id)
    return _ActionResult(result)


_ElasticBlockStore.describe_volumes = _describe_volumes

# --- 13. RedriveExecution.
import datetime as _datetime  # noqa: E402
from moto.core.exceptions import AWSError as _AWSError  # noqa: E402
from moto.stepfunctions.parser.api import (  # noqa: E402
    ExecutionRedrivenEventDetails as _ExecutionRedrivenEventDetails,
    ExecutionStatus as _ExecutionStatus,
    HistoryEventType as _HistoryEventType,
    StateMachineType as _StateMachineType,
)
from moto.stepfunctions.parser.asl.component.common.flow.start_at import StartAt as _StartAt  # noqa: E402
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails as _EventDetails  # noqa: E402
from moto.stepfunctions.parser.asl.eval.event.event_manager import (  # noqa: E402
    EventHistoryContext as _EventHistoryContext,
)
from moto.stepfunctions.parser.backend.execution import (  # noqa: E402
    BaseExecutionWorkerCommunication as _BaseExecutionWorkerCommunication,
    Execution as _ParserExecution,
)
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker as _ExecutionWorker  # noqa: E402
from moto.stepfunctions.parser.utils import TMP_THREADS as _TMP_THREADS  # noqa: E402

# Step Functions redrives an execution for 14 days after it stopped (API_RedriveExecution.html).
REDRIVE_WINDOW = _datetime.timedelta(days=14)
# A history of this many events or more cannot be redriven: the redrive's events must fit under the
# 25,000-event quota of one execution (API_RedriveExecution.html).
REDRIVE_MAX_HISTORY_EVENTS = 24_999
# The state types whose failed iterations or branches AWS redrives one by one (not done here).
_NESTED_STATE_TYPES = frozenset({"Map", "Parallel"})


class _ExecutionNotRedrivable(_AWSError):
    TYPE = "ExecutionNotRedrivable"
    STATUS = 400


class _RedriveValidation(_AWSError):
    TYPE = "ValidationException"
    STATUS = 400


def _not_redrivable_reason(execution, now):
    """DescribeExecution's redriveStatusReason for an execution RedriveExecution refuses, else None."""
    status = execution.exec_status
    if status == _ExecutionStatus.RUNNING or status == _ExecutionStatus.PENDING_REDRIVE:
        return "Execution is RUNNING and cannot be redriven."
    if status == _ExecutionStatus.SUCCEEDED:
        return "Execution is SUCCEEDED and cannot be redriven."
    stop_date = execution.stop_date
    if stop_date is not None and stop_date.tzinfo is None:
        # moto's utcnow() is naive UTC (StopExecution, and patch 7's interrupted executions).
        stop_date = stop_date.replace(tzinfo=_datetime.timezone.utc)
    if stop_date is not None and now - stop_date > REDRIVE_WINDOW:
        return "Execution redrivable period exceeded."
    worker = execution.exec_worker
    env = getattr(worker, "env", None)
    if env is not None and len(env.event_manager.get_event_history()) >= REDRIVE_MAX_HISTORY_EVENTS:
        return "Execution history event limit exceeded."
    return None


def _redrive_fields(execution):
    """redriveCount, redriveDate, redriveStatus and redriveStatusReason as DescribeExecution shows them."""
    fields = {"redriveCount": getattr(execution, "rbp_redrive_count", 0)}
    if getattr(execution, "rbp_redrive_date", None) is not None:
        fields["redriveDate"] = execution.rbp_redrive_date
    reason = _not_redrivable_reason(execution, _datetime.datetime.now(tz=_datetime.timezone.utc))
    if reason is None:
        fields["redriveStatus"] = "REDRIVABLE"
    else:
        fields["redriveStatus"] = "NOT_REDRIVABLE"
        fields["redriveStatusReason"] = reason
    return fields


def _failed_state(execution, history):
    """The top-level state the execution stopped in, and the input it was entered with.

    The last StateEntered event of a top-level state (its type names the state's type, so a nested
    state of the same name is not taken for it) not followed by that state's StateExited event.
    """
    definition = json.loads(execution.state_machine.definition)
    states = definition.get("States", {})
    for index in range(len(history) - 1, -1, -1):
        event = history[index]
        details = event.get("stateEnteredEventDetails")
        if details is None or details.get("name") not in states:
            continue
        name = details["name"]
        state_type = states[name].get("Type", "")
        if event["type"] != f"{state_type}StateEntered":
            continue
        exited = any(
            (later.get("stateExitedEventDetails") or {}).get("name") == name
            and later["type"] == f"{state_type}StateExited"
            for later in history[index + 1 :]
        )
        if exited:
            break
        if state_type in _NESTED_STATE_TYPES:
            raise _RedriveValidation(
                f"the local stack redrives an execution only from a top-level state that is not a Map or "
                f"Parallel state; '{execution.exec_arn}' stopped in the {state_type} state '{name}'"
            )
        return name, json.loads(details.get("input") or "null")
    raise _RedriveValidation(
        f"the local stack found no top-level state that '{execution.exec_arn}' stopped in, so it cannot redrive it"
    )


class _RedriveExecutionWorker(_ExecutionWorker):
    """Runs an execution again from one top-level state, going on with the earlier history."""

    def __init__(self, *, previous_env, start_at, state_input, redrive_count, redrive_date, **kwargs):
        super().__init__(**kwargs)
        self._rbp_previous_env = previous_env
        self._rbp_start_at = start_at
        self._rbp_state_input = state_input
        self._rbp_redrive_count = redrive_count
        self._rbp_redrive_date = redrive_date

    def _prepare(self):
        program = self._get_evaluation_entrypoint()
        program.start_at = _StartAt(self._rbp_start_at)
        env = self._get_evaluation_environment()
        previous = self._rbp_previous_env
        env.event_manager = previous.event_manager
        env.variable_store = previous.variable_store
        last_event_id = max((event["id"] for event in previous.event_manager.get_event_history()), default=0)
        env.event_history_context = _EventHistoryContext(previous_event_id=last_event_id)
        env.states.reset(input_value=self._rbp_state_input)
        env.event_manager.add_event(
            context=env.event_history_context,
            event_type=_HistoryEventType.ExecutionRedriven,
            event_details=_EventDetails(
                executionRedrivenEventDetails=_ExecutionRedrivenEventDetails(redriveCount=self._rbp_redrive_count)
            ),
            timestamp=self._rbp_redrive_date,
        )
        self.env = env
        return program

    def _run(self, program):
        program.eval(self.env)
        self._execution_communication.terminated()

    def start(self):
        program = self._prepare()
        thread = threading.Thread(target=self._run, args=(program,), daemon=True, name="rbp-redrive")
        _TMP_THREADS.append(thread)
        thread.start()


_redrive_lock = threading.Lock()


def _redrive_execution(backend, arn, client_token):
    backend._validate_execution_arn(arn)
    execution = backend.describe_execution(arn)
    if not isinstance(execution, _ParserExecution):
        raise _RedriveValidation("the local stack redrives only executions its ASL interpreter ran")
    with _redrive_lock:
        if client_token and client_token == getattr(execution, "rbp_redrive_token", None):
            return execution.rbp_redrive_date  # the same request again (an SDK retry): one redrive
        if execution.sm_type == _StateMachineType.EXPRESS:
            raise _ExecutionNotRedrivable("Execution of an EXPRESS state machine cannot be redriven.")
        now = _datetime.datetime.now(tz=_datetime.timezone.utc)
        reason = _not_redrivable_reason(execution, now)
        if reason is not None:
            raise _ExecutionNotRedrivable(reason)
        previous_env = execution.exec_worker.env
        start_at, state_input = _failed_state(execution, previous_env.event_manager.get_event_history())
        redrive_count = getattr(execution, "rbp_redrive_count", 0) + 1
        worker = _RedriveExecutionWorker(
            previous_env=previous_env,
            start_at=start_at,
            state_input=state_input,
            redrive_count=redrive_count,
            redrive_date=now,
            evaluation_details=execution._get_start_execution_worker()._evaluation_details,
            exec_comm=_BaseExecutionWorkerCommunication(execution),
            cloud_watch_logging_session=execution._cloud_watch_logging_session,
            activity_store=execution._activity_store,
        )
        execution.rbp_redrive_count = redrive_count
        execution.rbp_redrive_date = now
        execution.rbp_redrive_token = client_token
        execution.exec_worker = worker
        execution.exec_status = _ExecutionStatus.RUNNING
        execution.stop_date = None
        execution.error = None
        execution.cause = None
        execution.output = None
        worker.start()
        return now


def _redrive_execution_response(self):
    redrive_date = _redrive_execution(
        self.stepfunction_backend, self._get_param("executionArn"), self._get_param("clientToken")
    )
    return _ActionResult({"redriveDate": redrive_date})


_original_describe_execution_response = _StepFunctionResponse.describe_execution


def _describe_execution_response(self):
    result = _original_describe_execution_response(self)
    execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
    if isinstance(execution, _ParserExecution) and isinstance(getattr(result, "result", None), dict):
        result.result.update(_redrive_fields(execution))
    return result


_StepFunctionResponse.redrive_execution = _redrive_execution_response
_StepFunctionResponse.describe_execution = _describe_execution_response

# --- 14. A Distributed Map fails its Map Run beyond the tolerated failures.
from moto.stepfunctions.parser.api import MapRunFailedEventDetails as _MapRunFailedEventDetails  # noqa: E402
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (  # noqa: E402
    FailureEvent as _FailureEvent,
    FailureEventException as _FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (  # noqa: E402
    StatesErrorName as _StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (  # noqa: E402
    StatesErrorNameType as _StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (  # noqa: E402
    DistributedIterationComponent as _DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap as _StateMap  # noqa: E402
from moto.stepfunctions.parser.asl.component.state.exec.state_map.tolerated_failure import (  # noqa: E402
    ToleratedFailureCountDecl as _ToleratedFailureCountDecl,
    ToleratedFailurePercentageDecl as _ToleratedFailurePercentageDecl,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails as _MapRunEventDetails  # noqa: E402
from moto.stepfunctions.parser.asl.parse.asl_parser import (  # noqa: E402
    AmazonStateLanguageParser as _AmazonStateLanguageParser,
)

# The Map Run's cause. AWS's documentation names the error
# (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html) but not the cause
# text Step Functions gives with it; this is the text Step Functions emulators use for it, not
# confirmed against AWS.
EXCEEDED_THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"
_PERCENTAGE_FIELD = "ToleratedFailurePercentage"


def _percentages_as_floats(node):
    """The definition with every integer ToleratedFailurePercentage written as a float; True if any was."""
    changed = False
    if isinstance(node, dict):
        for key, value in node.items():
            if key == _PERCENTAGE_FIELD and isinstance(value, int) and not isinstance(value, bool):
                node[key] = float(value)
                changed = True
            else:
                changed = _percentages_as_floats(value) or changed
    elif isinstance(node, list):
        for value in node:
            changed = _percentages_as_floats(value) or changed
    return changed


_original_asl_parse = _AmazonStateLanguageParser.parse


def _asl_parse(definition):
    # moto's grammar reads ToleratedFailurePercentage as a decimal number only, so 50 (what JSON
    # writers make of 50.0) was a syntax error; the parser is given 50.0. The stored definition is unchanged.
    try:
        document = json.loads(definition)
    except (TypeError, ValueError):
        return _original_asl_parse(definition)
    if _percentages_as_floats(document):
        definition = json.dumps(document, ensure_ascii=False)
    return _original_asl_parse(definition)


_AmazonStateLanguageParser.parse = staticmethod(_asl_parse)

_original_state_map_from_state_props = _StateMap.from_state_props


def _state_map_from_state_props(self, state_props):
    _original_state_map_from_state_props(self, state_props)
    # moto fills an absent threshold with 0; AWS applies only the thresholds the state declares.
    self.iteration_component.rbp_tolerance_declared = (
        state_props.get(_ToleratedFailureCountDecl) is not None,
        state_props.get(_ToleratedFailurePercentageDecl) is not None,
    )


_StateMap.from_state_props = _state_map_from_state_props


def _threshold_exceeded(declared, tolerated_count, tolerated_percentage, failed, total):
    count_declared, percentage_declared = declared
    if not count_declared and not percentage_declared:
        return failed > 0
    if count_declared and failed > tolerated_count:
        return True
    return percentage_declared and total > 0 and failed * 100 > tolerated_percentage * total


_original_map_run = _DistributedIterationComponent._map_run


def _map_run(self, env, eval_input):
    _original_map_run(self, env, eval_input)
    record = eval_input.map_run_record
    failed = record.item_counter.failed.get() + record.item_counter.timed_out.get()
    declared = getattr(self, "rbp_tolerance_declared", (False, False))
    if not _threshold_exceeded(
        declared,
        record.tolerated_failure_count,
        record.tolerated_failure_percentage,
        failed,
        record.item_counter.total.get(),
    ):
        return
    env.stack.pop()  # the children's outputs: a failed Map state has none
    error = _StatesErrorNameType.StatesExceedToleratedFailureThreshold
    # _eval_body records MapRunFailed with this error and cause and marks the Map Run FAILED; the
    # Map state then fails with it, through its Retry and Catch.
    raise _FailureEventException(
        failure_event=_FailureEvent(
            env=env,
            error_name=_StatesErrorName(typ=error),
            event_type=_HistoryEventType.MapRunFailed,
            event_details=_MapRunEventDetails(
                mapRunFailedEventDetails=_MapRunFailedEventDetails(
                    error=error.to_name(), cause=EXCEEDED_THRESHOLD_CAUSE
                )
            ),
        )
    )


_DistributedIterationComponent._map_run = _map_run

# --- 7. State across restarts.
STATE_FILE_ENV = "RBP_MOTO_STATE_FILE"
# Attributes that hold a backend's machinery rather than its data (rebuilt by a fresh backend).
_MACHINERY_ATTRIBUTES = frozenset({"region_name", "account_id", "partition"})
# A BackendDict's own attributes; any other (S3's bucket_accounts: the global bucket namespace) is data.
_BACKEND_DICT_ATTRIBUTES = frozenset({"backend", "service_name", "_use_boto3_regions", "_additional_regions", "_id"})
_state_lock = threading.Lock()


class _StatePickler(pickle.Pickler):
    """Pickles locks as new locks and drops threads, events and queues (they do not outlive a process)."""

    def reducer_override(self, obj):
        kind = type(obj)
        if kind is _thread.LockType or kind is type(threading.Lock()):
            return threading.Lock, ()
        if kind is type(threading.RLock()):
            return threading.RLock, ()
        if isinstance(obj, (threading.Thread, threading.Event, threading.Condition, queue.Queue)):
            return type(None), ()
        if isinstance(obj, (io.IOBase,)) and not isinstance(obj, (io.BytesIO,)):
            return type(None), ()
        return NotImplemented


def _backend_dicts():
    from moto.core.base_backend import BackendDict

    return [bd for bd in BackendDict._instances if bd.service_name != "lambda"]


def _save_state(body):
    path = body.get("path") or os.environ.get(STATE_FILE_ENV)
    if not path:
        raise ValueError(f"no state file: set {STATE_FILE_ENV} or pass path")
    with _state_lock:
        state = {}
        for backend_dict in _backend_dicts():
            accounts = {}
            for account_id, regions in list(backend_dict.items()):
                accounts[account_id] = {
                    region: {k: v for k, v in vars(backend).items() if k not in _MACHINERY_ATTRIBUTES}
                    for region, backend in list(regions.items())
                }
            shared = {k: v for k, v in vars(backend_dict).items() if k not in _BACKEND_DICT_ATTRIBUTES}
            # Keyed by the backend's class: Step Functions has two BackendDicts under one service name
            # (moto's plain one and the ASL interpreter's, which the local stack uses).
            key = f"{backend_dict.backend.__module__}:{backend_dict.backend.__qualname__}"
            state[key] = {"accounts": accounts, "shared": shared}
        buffer = io.BytesIO()
        _StatePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(state)
        temporary = f"{path}.tmp"
        with open(temporary, "wb") as out:
            out.write(buffer.getvalue())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    return {"path": path, "bytes": buffer.tell(), "services": sorted(state)}


def _abort_interrupted_executions(backend):
    for machine in getattr(backend, "state_machines", []) or []:
        for execution in getattr(machine, "executions", []) or []:
            if getattr(execution, "status", None) == "RUNNING":
                if hasattr(execution, "exec_status"):
                    # The ASL interpreter's Execution: status is a read-only view of exec_status.
                    from moto.stepfunctions.parser.api import ExecutionStatus

                    execution.exec_status = ExecutionStatus.ABORTED
                else:
                    execution.status = "ABORTED"
                execution.stop_date = utcnow()
                execution.error = "States.Runtime"
                execution.cause = "the local stack stopped while this execution ran"


def _backend_dict_of(key):
    import importlib

    from moto.core.base_backend import BackendDict

    module_name, class_name = key.split(":")
    module = importlib.import_module(module_name)
    backend_class = getattr(module, class_name)
    for value in vars(module).values():
        if isinstance(value, BackendDict) and value.backend is backend_class:
            return value
    raise LookupError(f"no BackendDict for {key}")


def _load_state(path):
    with open(path, "rb") as source:
        state = pickle.load(source)
    for key, saved in state.items():
        backend_dict = _backend_dict_of(key)
        service = backend_dict.service_name
        vars(backend_dict).update(saved["shared"])
        for account_id, regions in saved["accounts"].items():
            for region, attributes in regions.items():
                backend = backend_dict[account_id][region]
                vars(backend).update(attributes)
                if service == "stepfunctions":
                    _abort_interrupted_executions(backend)
    return sorted(state)


_ROUTES = {
    "/_rbp/ec2/snapshot": _put_snapshot,
    "/_rbp/ec2/volume": _put_volume,
    "/_rbp/state/save": _save_state,
}


def _rbp_admin(environ, start_response):
    route = _ROUTES.get(environ.get("PATH_INFO", ""))
    if route is None or environ.get("REQUEST_METHOD") != "POST":
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"message":"unknown /_rbp route"}']
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        answer = json.dumps(route(body)).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [answer]
    except Exception as error:  # noqa: BLE001 - reported to the gateway, which raises it
        start_response("400 Bad Request", [("Content-Type", "application/json")])
        return [json.dumps({"message": f"{type(error).__name__}: {error}"}).encode()]


_original_call = DomainDispatcherApplication.__call__


def _call(self, environ, start_response):
    if environ.get("PATH_INFO", "").startswith("/_rbp/"):
        return _rbp_admin(environ, start_response)
    return _original_call(self, environ, start_response)


DomainDispatcherApplication.__call__ = _call


def _exit_with_parent():
    parent = os.getppid()
    while True:
        time.sleep(PARENT_POLL_INTERVAL_SECONDS)
        if os.getppid() != parent:
            os._exit(0)


if __name__ == "__main__":
    threading.Thread(target=_exit_with_parent, daemon=True, name="rbp-parent-watch").start()
    import moto.server

    _state_file = os.environ.get(STATE_FILE_ENV)
    if _state_file and os.path.exists(_state_file):
        _load_state(_state_file)

    # moto keeps its state in memory only: nothing to flush, so exit at once on SIGINT/SIGTERM
    # (moto's own handler raises SystemExit, which takes ~0.5 s to unwind werkzeug's server loop).
    moto.server.signal_handler = lambda *_: os._exit(0)
    moto.server.main(sys.argv[1:])
