#!/usr/bin/env bash
# A live HLS test stream for the local origin (deploy/local/hls-origin.sh):
# ffmpeg's test pattern (testsrc2) with a 440 Hz tone, in real time, tiny and
# cheap (320x180 at 10 frames a second, x264 ultrafast, one thread), cut into
# one-second segments with a playlist of the last five, older segments
# deleted; as a live encoder would do it. It runs in the foreground for
# SECONDS, then ends the playlist (#EXT-X-ENDLIST); Ctrl-C stops it sooner.
#
#   deploy/local/hls-test-stream.sh NAME SECONDS
#
# writes .local/hls/streams/NAME/index.m3u8 and its segments (ILMO_LOCAL_DIR
# moves .local, as for hls-origin.sh). Then `deploy/local/hls-origin.sh url
# NAME` prints a signed URL to open in a player (ffplay, mpv, VLC).

set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

STREAMS_DIR=$LOCAL_DIR/hls/streams
# As ilmo_streaming.playback's STREAM_NAME: the name is a folder and a part of the URL.
STREAM_PATTERN='^[A-Za-z0-9_-]+$'

usage() {
	printf 'usage: %s NAME SECONDS\n' "$0" >&2
	exit 2
}

main() {
	local name seconds ffmpeg folder
	[[ $# -eq 2 ]] || usage
	name=$1 seconds=$2
	[[ $name =~ $STREAM_PATTERN ]] || die "a stream name is [A-Za-z0-9_-]+, not '$name'"
	[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "SECONDS must be a positive whole number, not '$seconds'"
	ensure_dirs
	ffmpeg=$(system_command ffmpeg)
	if [[ -z $ffmpeg ]]; then
		"$SCRIPT_DIR/hls-tools.sh" >&2
		ffmpeg=$(system_command ffmpeg)
	fi
	folder=$STREAMS_DIR/$name
	mkdir -p "$folder"
	chmod 755 "$STREAMS_DIR" "$folder"
	# A playlist left by an earlier run would look live until the first new one replaces it.
	rm -f "$folder"/*.m3u8 "$folder"/*.ts "$folder"/*.tmp
	note "streaming '$name' for $seconds s into $(rel "$folder") (signed URL: deploy/local/hls-origin.sh url $name)"
	# A keyframe every 10 frames (1 s) lets every segment start with one;
	# temp_file writes each file beside and renames it, so nginx never
	# serves half a playlist or segment.
	exec "$ffmpeg" -hide_banner -loglevel warning -nostdin -re \
		-f lavfi -i "testsrc2=size=320x180:rate=10" \
		-f lavfi -i "sine=frequency=440:sample_rate=44100" \
		-t "$seconds" -threads 1 -filter_threads 1 \
		-c:v libx264 -preset ultrafast -tune zerolatency -pix_fmt yuv420p \
		-g 10 -keyint_min 10 -sc_threshold 0 -b:v 150k \
		-c:a aac -b:a 48k -ac 1 \
		-f hls -hls_time 1 -hls_list_size 5 -hls_flags delete_segments+temp_file \
		-hls_segment_filename "$folder/index%d.ts" "$folder/index.m3u8"
}

main "$@"
