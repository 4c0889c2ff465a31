"""Deleting stored samples no live version shows any more (存储期限不得超过业务有效期): a
version's sample is kept while any version showing it may still be listed (a draft, one in
review, listed, suspended or returned for corrections); once every such version is
rejected, delisted or superseded the file is deleted from storage, each version keeping the
sample's SHA-256 and marked, every deletion audited."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from sqlalchemy import select

from market.kernel.storage import FileStore, file_store, sharded
from market.kernel.uow import UnitOfWork
from market.listing.domain import ListingStatus
from market.listing.models import ProductVersion

ENDED = frozenset({ListingStatus.REJECTED.value, ListingStatus.DELISTED.value,
                   ListingStatus.SUPERSEDED.value})


def delete_unused_samples(*, sample_dir: FileStore | Path, uow: UnitOfWork) -> list[str]:
    """Delete the stored samples no live version shows; returns their SHA-256."""
    store = file_store(sample_dir)
    with uow:
        versions = uow.session.scalars(
            select(ProductVersion).where(ProductVersion.sample_sha256.is_not(None),
                                         ProductVersion.sample_deleted_at.is_(None))
            .order_by(ProductVersion.id).with_for_update())
        by_file: dict[str, list[ProductVersion]] = defaultdict(list)
        for version in versions:
            assert version.sample_sha256 is not None
            by_file[version.sample_sha256].append(version)
        now, deleted = uow.clock.now(), []
        for sha, showing in sorted(by_file.items()):
            if any(v.status not in ENDED for v in showing):
                continue
            present = store.delete(sharded(sha))
            for version in showing:
                version.sample_deleted_at = now
                uow.audit.record(uow.actor, "sample.deleted", "product_version", version.id, {
                    "product_id": version.product_id, "sha256": sha,
                    "size": version.sample_size,
                    "reason": f"the version is {version.status}", "was_stored": present})
            deleted.append(sha)
        uow.commit()
        return deleted
