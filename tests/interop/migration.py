"""JSONata migrations along a chain of major versions with confluent-kafka's own serdes.

    python migration.py URL SUBJECT write MAJOR RECORD_JSON     # prints the payload as hex
    python migration.py URL SUBJECT read MAJOR|latest HEX        # prints the record as JSON

The subject's versions (tests/common/migrations.rs) carry `application.major.version` and
JSONata UPGRADE/DOWNGRADE rules. `write` serializes with use.latest.with.metadata (the latest
version of that major version); `read` deserializes with use.latest.with.metadata, or
use.latest.version for `latest`, so the client applies the migration rules between the writer's
version and the reader's.
"""

import json
import sys

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.rules.jsonata.jsonata_executor import JsonataExecutor
from confluent_kafka.serialization import MessageField, SerializationContext

JsonataExecutor.register()


def main(argv):
    if len(argv) != 5 or argv[2] not in ("write", "read"):
        sys.exit(__doc__)
    url, subject, mode, major, data = argv
    client = SchemaRegistryClient({"url": url})
    topic = subject.removesuffix("-value")
    context = SerializationContext(topic, MessageField.VALUE)
    if major == "latest":
        conf = {"use.latest.version": True}
    else:
        conf = {"use.latest.with.metadata": {"application.major.version": major}}
    if mode == "write":
        latest = client.get_latest_with_metadata(subject, {"application.major.version": major})
        serialize = AvroSerializer(client, latest.schema.schema_str, conf={"auto.register.schemas": False, **conf})
        print(serialize(json.loads(data), context).hex())
    else:
        deserialize = AvroDeserializer(client, conf=conf)
        print(json.dumps(deserialize(bytes.fromhex(data), context), sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
