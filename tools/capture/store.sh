#!/bin/bash
# Copy captured logs into the project's sample folder: every
# <kver>-<scenario>-<form>.log and MANIFEST.tsv; a log over LIMIT bytes
# (default 200000) is stored xz-compressed (<name>.log.xz), byte-identical
# once decompressed.  A file of the same name (plain or .xz) is replaced.
# usage: store.sh SRC_DIR DEST_DIR [LIMIT]
set -euo pipefail
SRC=${1:?usage: store.sh SRC_DIR DEST_DIR [LIMIT]}
DEST=${2:?usage: store.sh SRC_DIR DEST_DIR [LIMIT]}
LIMIT=${3:-200000}
mkdir -p "$DEST"
for f in "$SRC"/*.log; do
	b=$(basename "$f")
	rm -f "$DEST/$b" "$DEST/$b.xz"
	if [ "$(stat -c %s "$f")" -gt "$LIMIT" ]; then
		xz -9e -T1 -c "$f" > "$DEST/$b.xz"
	else
		cp "$f" "$DEST/$b"
	fi
done
cp "$SRC/MANIFEST.tsv" "$DEST/MANIFEST.tsv"
