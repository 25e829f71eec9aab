"""Oracle of test/local/moto-query-patch.property.test.ts: runs each Query case through moto's own
Table.query (patch 9 undone) and through the patched one, in one process, and prints both answers.

stdin: one JSON case per line:
  {"rangeType": "S"|"N", "items": [{"pk": str, "sk": str|number, "pad": int}],
   "deletes": [{"pk": str, "sk": ...}],
   "queries": [{"pk": str, "op": str|null, "values": [...], "limit": int|null, "forward": bool,
                "esk": {"pk": str, "sk": ...}|null}]}
stdout: one JSON line per case: {"answers": [{"moto": ..., "patched": ...}], "fast": int}
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "local", "moto"))
import moto_patch  # noqa: E402  (applies the patches)
from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: E402
from moto.dynamodb.models.table import Table  # noqa: E402


def typed(range_type, value):
    return {range_type: str(value)}


def answer(result):
    items, scanned, last = result
    return {
        "items": [item.to_json()["Attributes"] for item in items],
        "scanned": scanned,
        "last": None if last is None else {k: v.to_json() if isinstance(v, DynamoType) else v for k, v in last.items()},
    }


def run_case(case):
    range_type = case["rangeType"]
    table = Table(
        "oracle",
        "123456789012",
        "us-east-1",
        schema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        attr=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": range_type}],
    )
    answers = []
    before = moto_patch._fast_query_stats["fast"]

    def query_both(q):
        hash_key = DynamoType({"S": q["pk"]})
        op = q["op"]
        objs = [DynamoType(typed(range_type, v)) for v in q["values"]]
        esk = None
        if q["esk"] is not None:
            esk = {"pk": {"S": q["esk"]["pk"]}, "sk": typed(range_type, q["esk"]["sk"])}
        conditions = None if op is None else [("sk", op, objs)]
        args = (hash_key, op, objs, q["limit"], esk, q["forward"], None)
        kwargs = {"range_key_conditions": conditions, "hash_key_conditions": [("pk", hash_key)]}
        patched = answer(Table.query(table, *args, **kwargs))
        Table.query = moto_patch._original_table_query
        Table.all_items = moto_patch._original_all_items
        try:
            original = answer(Table.query(table, *args, **kwargs))
        finally:
            Table.query = moto_patch._fast_table_query
            Table.all_items = moto_patch._all_items
        return {"moto": original, "patched": patched}

    for item in case["items"]:
        table.put_item({"pk": {"S": item["pk"]}, "sk": typed(range_type, item["sk"]), "pad": {"S": "x" * item["pad"]}})
    for q in case["queries"]:
        answers.append(query_both(q))
    # Deletes and re-puts between queries: the sorted keys must follow them.
    for item in case["deletes"]:
        table.delete_item(DynamoType({"S": item["pk"]}), DynamoType(typed(range_type, item["sk"])))
    for item in case["items"][: len(case["items"]) // 3]:
        table.put_item({"pk": {"S": item["pk"]}, "sk": typed(range_type, item["sk"]), "pad": {"S": "y"}})
    for q in case["queries"]:
        answers.append(query_both(q))
    return {"answers": answers, "fast": moto_patch._fast_query_stats["fast"] - before}


for line in sys.stdin:
    if line.strip():
        sys.stdout.write(json.dumps(run_case(json.loads(line))) + "\n")
        sys.stdout.flush()
