#!/usr/bin/env python3
"""Reproducible OCI image archives from directories, without a daemon.

    oci.py layer DIR OUT.tar [--epoch N]     a directory as a layer tar: entries sorted,
                                             mtimes clamped to N, owners numeric only
    oci.py image OUT.tar --name REF --layer L.tar [--layer …] --config JSON
                                             an OCI image layout (oci-layout, index.json,
                                             blobs) in one tar, as `ctr images import`,
                                             `podman load` and `skopeo copy oci-archive:` read
    oci.py relabel IN.tar OUT.tar --name REF --label K=V [--label …]
                                             the same layers with more labels: another
                                             image digest for nothing (upgrade tests)

Every byte is a function of the inputs: gzip without a name or timestamp, JSON with
sorted keys, the archive's own entries sorted with fixed mtimes. The image digest printed
last on stdout is the manifest's. Standard library only: runs on the build host's python3.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import pathlib
import tarfile

MEDIA = {
    "index": "application/vnd.oci.image.index.v1+json",
    "manifest": "application/vnd.oci.image.manifest.v1+json",
    "config": "application/vnd.oci.image.config.v1+json",
    "layer": "application/vnd.oci.image.layer.v1.tar+gzip",
}


def layer(src: pathlib.Path, out: pathlib.Path, epoch: int) -> None:
    """``src``'s tree as a tar: sorted, mtimes clamped to ``epoch``, no user or group names."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        paths = [src]
        for root, dirs, files in os.walk(src):
            dirs.sort()
            base = pathlib.Path(root)
            paths += [base / name for name in sorted(dirs + files)]
        for path in paths:
            arcname = path.relative_to(src).as_posix()
            if arcname == ".":
                continue
            info = tar.gettarinfo(str(path), arcname)
            info.mtime = min(int(info.mtime), epoch)
            info.uname = info.gname = ""
            info.pax_headers = {}
            if info.isreg():
                with path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _gzip(raw: bytes) -> bytes:
    buf = io.BytesIO()
    # mtime=0 and no file name: the gzip header holds nothing but the data's own bytes.
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6, mtime=0) as gz:
        gz.write(raw)
    return buf.getvalue()


def image(out: pathlib.Path, name: str, layers: list[pathlib.Path], config: dict) -> str:
    """Write the archive; returns the manifest digest."""
    blobs: dict[str, bytes] = {}

    def blob(data: bytes, media: str) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media, "digest": digest, "size": len(data)}

    layer_descs, diff_ids = [], []
    for path in layers:
        raw = path.read_bytes()
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        layer_descs.append(blob(_gzip(raw), MEDIA["layer"]))
    config = {**config, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    manifest = {"schemaVersion": 2, "mediaType": MEDIA["manifest"],
                "config": blob(_json(config), MEDIA["config"]), "layers": layer_descs}
    mdesc = blob(_json(manifest), MEDIA["manifest"])
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
    mdesc["annotations"] = {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": tag}
    mdesc["platform"] = {"architecture": config["architecture"], "os": config["os"]}
    index = {"schemaVersion": 2, "mediaType": MEDIA["index"], "manifests": [mdesc]}
    files = {"oci-layout": _json({"imageLayoutVersion": "1.0.0"}), "index.json": _json(index)}
    files.update({f"blobs/sha256/{d.split(':')[1]}": data for d, data in blobs.items()})
    _write_layout(out, files)
    return str(mdesc["digest"])


def _write_layout(out: pathlib.Path, files: dict[str, bytes]) -> None:
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for dirname in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(dirname)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for arcname in sorted(files):
            info = tarfile.TarInfo(arcname)
            info.size, info.mode = len(files[arcname]), 0o644
            tar.addfile(info, io.BytesIO(files[arcname]))


def relabel(src: pathlib.Path, out: pathlib.Path, name: str, labels: dict[str, str]) -> str:
    """``src``'s single image with ``labels`` added to its config, named ``name``; returns
    the new manifest digest."""
    with tarfile.open(src) as tar:
        files = {m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                 for m in tar.getmembers() if m.isfile()}

    def blob(digest: str) -> bytes:
        return files[f"blobs/sha256/{digest.split(':')[1]}"]

    def put(data: bytes, media: str) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        files[f"blobs/sha256/{digest.split(':')[1]}"] = data
        return {"mediaType": media, "digest": digest, "size": len(data)}

    index = json.loads(files["index.json"])
    (old,) = index["manifests"]
    manifest = json.loads(blob(old["digest"]))
    config = json.loads(blob(manifest["config"]["digest"]))
    config["config"]["Labels"] = {**config["config"].get("Labels", {}), **labels}
    manifest["config"] = put(_json(config), MEDIA["config"])
    mdesc = put(_json(manifest), MEDIA["manifest"])
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
    mdesc["annotations"] = {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": tag}
    mdesc["platform"] = old.get("platform")
    files["index.json"] = _json({**index, "manifests": [mdesc]})
    _write_layout(out, files)
    return str(mdesc["digest"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    lp = sub.add_parser("layer")
    lp.add_argument("src", type=pathlib.Path)
    lp.add_argument("out", type=pathlib.Path)
    lp.add_argument("--epoch", type=int, default=int(os.environ.get("SOURCE_DATE_EPOCH", "0")))
    ip = sub.add_parser("image")
    ip.add_argument("out", type=pathlib.Path)
    ip.add_argument("--name", required=True)
    ip.add_argument("--layer", type=pathlib.Path, action="append", required=True)
    ip.add_argument("--config", required=True, help="the image config as JSON, rootfs left out")
    rp = sub.add_parser("relabel")
    rp.add_argument("src", type=pathlib.Path)
    rp.add_argument("out", type=pathlib.Path)
    rp.add_argument("--name", required=True)
    rp.add_argument("--label", action="append", default=[], help="KEY=VALUE")
    args = parser.parse_args()
    if args.command == "layer":
        layer(args.src, args.out, args.epoch)
    elif args.command == "relabel":
        labels = dict(item.split("=", 1) for item in args.label)
        print(relabel(args.src, args.out, args.name, labels))
    else:
        print(image(args.out, args.name, args.layer, json.loads(args.config)))


if __name__ == "__main__":
    main()
