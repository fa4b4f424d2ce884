"""Uploads a folder to an S3-compatible server with boto3, as a team's own tooling would.

    python upload.py ENDPOINT BUCKET PREFIX FOLDER

Creates the bucket, then puts every file under FOLDER at PREFIX/<its path under FOLDER>, and a Spark
`_SUCCESS` marker and a README beside the domains, which a corpus reader must pass over.
"""
import os
import sys

import boto3


def main():
    endpoint, bucket, prefix, folder = sys.argv[1:]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="remix",
        aws_secret_access_key="remix",
        region_name="us-east-1",
    )
    if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=bucket)
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            path = os.path.join(root, name)
            key = f"{prefix}/{os.path.relpath(path, folder)}"
            s3.upload_file(path, bucket, key)
    s3.put_object(Bucket=bucket, Key=f"{prefix}/_SUCCESS", Body=b"")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/README.md", Body=b"the fixtures corpus\n")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")["KeyCount"]
    print(listed)


if __name__ == "__main__":
    main()
