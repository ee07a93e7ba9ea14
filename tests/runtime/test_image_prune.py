"""Pruning old worker images leaves alone what other checkouts on the same engine may be using."""

from __future__ import annotations

import io

from runtime.image import prune_old_images

REPO = "plansim-prune-test"  # never the real worker repository: pruning it here would hit other checkouts


def test_only_images_beyond_the_newest_and_older_than_the_age_limit_are_removed(docker_client):
    tags = [f"{REPO}:h{i}" for i in range(5)]
    try:
        for i, tag in enumerate(tags):  # tiny distinct images, built oldest first
            docker_client.images.build(
                fileobj=io.BytesIO(f"FROM scratch\nLABEL n={i}\n".encode()), tag=tag, rm=True
            )
        # Before: the count alone decided, so a build removed images made minutes ago by another checkout.
        assert prune_old_images(docker_client, keep=3, min_age_s=3600, repo=REPO) == []
        assert {t for im in docker_client.images.list(name=REPO) for t in im.tags} == set(tags)
        assert sorted(prune_old_images(docker_client, keep=3, min_age_s=0, repo=REPO)) == tags[:2]
        assert {t for im in docker_client.images.list(name=REPO) for t in im.tags} == set(tags[2:])
    finally:
        for im in docker_client.images.list(name=REPO):
            for tag in im.tags:
                docker_client.images.remove(tag)
