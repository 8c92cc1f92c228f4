"""The test harness itself: a real MinIO from source, reachable by independent clients."""

import urllib.request

from helpers.minio_server import MINIO_BIN


def test_minio_is_the_pinned_source_build(minio):
    assert MINIO_BIN.resolve().name.startswith("minio-v0.0.0-")
    with urllib.request.urlopen(f"{minio.endpoint}/minio/health/cluster", timeout=5) as resp:  # noqa: S310
        assert resp.status == 200


def test_independent_clients_see_the_same_server(minio, unique_name):
    minio.mc("mb", f"t/{unique_name}")
    names = [b["Name"] for b in minio.boto3().list_buckets()["Buckets"]]
    assert unique_name in names
    minio.mc("rb", f"t/{unique_name}")


def test_kms_instance_encrypts_with_sse_s3(minio_kms, unique_name):
    s3 = minio_kms.boto3()
    s3.create_bucket(Bucket=unique_name)
    s3.put_object(Bucket=unique_name, Key="doc.txt", Body=b"hello", ServerSideEncryption="AES256")
    head = s3.head_object(Bucket=unique_name, Key="doc.txt")
    assert head["ServerSideEncryption"] == "AES256"
