#!/usr/bin/env bash
# The Debian packages `ebmm data build photos32 / glyphs32` read (`make data` runs this, then builds both):
# photographs from mate-backgrounds (nature/), lomiri-wallpapers-16.04 and -20.04, and the fonts of
# fonts-noto-core. Each is checked by a folder only it installs; the one apt rule is scripts/ensure-tool.sh.
set -u
here="$(dirname "$0")"
bash "$here/ensure-tool.sh" /usr/share/backgrounds/mate/nature "ebmm data build photos32" mate-backgrounds
bash "$here/ensure-tool.sh" /usr/share/doc/lomiri-wallpapers-16.04 "ebmm data build photos32" lomiri-wallpapers-16.04
bash "$here/ensure-tool.sh" /usr/share/doc/lomiri-wallpapers-20.04 "ebmm data build photos32" lomiri-wallpapers-20.04
bash "$here/ensure-tool.sh" /usr/share/doc/fonts-noto-core "ebmm data build glyphs32" fonts-noto-core
