"""Oracle of test/local/moto-query-patch.property.test.ts for moto_patch.py patch 11: the same
Queries answered through moto's own serializer and through the direct JSON, parsed by botocore as
any SDK parses them, for items with every DynamoDB attribute type. Prints one JSON line:
{"queries": n, "differences": [...]}.
"""

import json
import os
import sys

sys.argv = sys.argv[:1]
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "local", "moto"))
import moto_patch  # noqa: E402
import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.dynamodb.responses import DynamoHandler  # noqa: E402

ITEM_SHAPES = [
    {"s": {"S": "text é ✓"}, "n": {"N": "-12.500"}, "b": {"B": b"\x00\xffbytes"}},
    {"bool": {"BOOL": True}, "null": {"NULL": True}, "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}},
    {"bs": {"BS": [b"\x01", b"\x02\x03"]}, "l": {"L": [{"S": "x"}, {"N": "3"}, {"M": {"k": {"B": b"\x09"}}}]}},
    {"m": {"M": {"nested": {"M": {"deep": {"L": [{"BOOL": False}, {"NULL": True}]}}}, "e": {"S": ""}}}},
]

with mock_aws():
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    client.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "B"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(30):
        item = {"pk": {"S": "p"}, "sk": {"B": bytes([i, 255 - i])}, **ITEM_SHAPES[i % len(ITEM_SHAPES)]}
        client.put_item(TableName="t", Item=item)
    queries = [
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}},
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}, "Limit": 7},
        {
            "KeyConditionExpression": "pk = :p AND sk > :b",
            "ExpressionAttributeValues": {":p": {"S": "p"}, ":b": {"B": bytes([10, 0])}},
            "ScanIndexForward": False,
            "Limit": 5,
            "ReturnConsumedCapacity": "TOTAL",
        },
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}, "Select": "COUNT"},
        {
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "p"}},
            "ProjectionExpression": "sk, m, bs",
        },
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "absent"}}},
    ]
    differences = []
    for query in queries:
        patched = client.query(TableName="t", **query)
        DynamoHandler.query = moto_patch._original_query_action
        try:
            original = client.query(TableName="t", **query)
        finally:
            DynamoHandler.query = moto_patch._query_action
        for answer in (patched, original):
            answer.pop("ResponseMetadata", None)
        if patched != original:
            differences.append({"query": repr(query), "patched": repr(patched), "moto": repr(original)})
    # The LastEvaluatedKey of a page goes on to the same next page through both.
    print(json.dumps({"queries": len(queries), "differences": differences}))
