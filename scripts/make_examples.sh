#!/bin/sh
# Writes the sample images of the README's quick start (checked in; run again to remake them).
# Needs ImageMagick (convert) and webp (cwebp). Solid colours keep every file small.
set -eu
cd "$(dirname "$0")/../examples"
png_opts="-strip -define png:exclude-chunks=date,time"
convert -size 640x800 gradient:'#d9a07a-#6b4a3a' -strip -quality 80 portrait-640x800.jpg
convert -size 1600x400 xc:'#7a9bd9' $png_opts banner.png && cwebp -quiet -q 60 banner.png -o banner-1600x400.webp && rm banner.png
convert -size 300x300 xc:'#a0d97a' $png_opts small-300x300.png
convert -size 7200x600 xc:'#d97aa0' $png_opts wide-7200x600.png
convert -size 480x640 xc:white -type bilevel BMP3:mono-480x640.bmp
convert -delay 50 -size 480x480 xc:red xc:blue -loop 0 animated-480x480.gif
printf '<svg xmlns="http://www.w3.org/2000/svg" width="800" height="800"/>\n' > drawing.svg
# The first 120 bytes of the portrait: the file ends before the frame header (SOF).
head -c 120 portrait-640x800.jpg > cut-short.jpg
