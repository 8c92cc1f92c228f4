"""koprogo-backup: encrypted offsite backup and verified restore of MinIO buckets.

Installed by the koprogo.storage.backup role. The minio SDK reads and writes MinIO (every key,
listed with url encoding), rclone crypt stores content-addressed blobs offsite, gpg encrypts the
manifest that maps each object (key, metadata, tags) to its blob.
"""
