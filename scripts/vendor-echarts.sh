#!/bin/sh
# Vendors Apache ECharts into the console's static files from the npm registry, at the pinned
# version, with its licence files (the console loads no script from a CDN). Run from the
# repository's root: scripts/vendor-echarts.sh
set -eu
VERSION=5.6.0
DEST=src/patron/console/static/vendor/echarts
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "echarts@$VERSION" >/dev/null && tar -xzf "echarts-$VERSION.tgz")
mkdir -p "$DEST"
cp "$WORK/package/dist/echarts.min.js" "$WORK/package/LICENSE" "$WORK/package/NOTICE" "$WORK/package/licenses/LICENSE-d3" "$DEST/"
echo "ECharts $VERSION in $DEST"
