"""Where image files live. Two backends with one interface, chosen by MEDIA_STORAGE:
"local" (a folder, `instance/uploads` by default) and "s3" (any S3-compatible service,
through boto3). Names are made by the server and never contain a path separator."""
from pathlib import Path
from typing import Protocol

from flask import current_app, url_for


class Storage(Protocol):
    def save(self, name: str, data: bytes, content_type: str) -> None: ...

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None when there is no such file."""

    def delete(self, name: str) -> None:
        """Remove the file; a missing file is not an error."""

    def public_url(self, name: str) -> str | None:
        """A URL the browser can load the file from directly, or None to serve it through the app."""


class LocalStorage:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        return self.folder / name

    def save(self, name: str, data: bytes, content_type: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f".{name}.partial"
        partial.write_bytes(data)
        partial.replace(self.folder / name)  # readers never see half a file

    def read(self, name: str) -> bytes | None:
        try:
            return (self.folder / name).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)

    def public_url(self, name: str) -> str | None:
        return None


class S3Storage:
    """A bucket on AWS S3 or anything speaking its API (MinIO, Ceph, R2, Spaces…).
    With S3_PUBLIC_URL set, pages link to the bucket directly; otherwise the app serves
    the files itself (with the same cache headers as the local backend)."""

    def __init__(self, bucket: str, *, prefix: str = "", public_url: str = "", endpoint_url: str | None = None,
                 region: str | None = None, access_key: str | None = None, secret_key: str | None = None):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.public_base = public_url.rstrip("/")
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None,
            aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20))
        from botocore.exceptions import ClientError

        self._client_error = ClientError

    def save(self, name: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data, ContentType=content_type,
                               CacheControl="public, max-age=31536000, immutable")

    def read(self, name: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"].read()
        except self._client_error as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + name)

    def public_url(self, name: str) -> str | None:
        return f"{self.public_base}/{self.prefix}{name}" if self.public_base else None


def make_storage(config) -> Storage:
    backend = config.get("MEDIA_STORAGE", "local")
    if backend == "local":
        return LocalStorage(config["UPLOAD_DIR"])
    if backend == "s3":
        return S3Storage(
            config["S3_BUCKET"], prefix=config.get("S3_PREFIX", ""), public_url=config.get("S3_PUBLIC_URL", ""),
            endpoint_url=config.get("S3_ENDPOINT_URL"), region=config.get("S3_REGION"),
            access_key=config.get("S3_ACCESS_KEY_ID"), secret_key=config.get("S3_SECRET_ACCESS_KEY"))
    raise ValueError(f"MEDIA_STORAGE must be 'local' or 's3', not {backend!r}")


def get_storage(app=None) -> Storage:
    """This app's storage, made from its config the first time it is asked for."""
    app = app or current_app._get_current_object()
    storage = app.extensions.get("crowdfund_storage")
    if storage is None:
        storage = app.extensions["crowdfund_storage"] = make_storage(app.config)
    return storage


def image_url(name: str) -> str:
    """Where the browser loads one file from."""
    return get_storage().public_url(name) or url_for("media.file", name=name)
