/*
 * The player page of Ilmo's streaming service (ilmo_streaming.player).
 * Plain ES2017, no build step; served at /player/assets/player.js after
 * hls.js (/player/assets/hls.min.js, the global `Hls`).
 *
 * The page's video element carries what this script needs:
 *   data-playlist-url         a signed playlist URL, valid now
 *   data-renewal-url          the watch link's renewal endpoint (same origin)
 *   data-renew-after-seconds  when to ask it for a fresh URL
 *
 * Why renewal works without reloading: a signed URL carries its signature
 * and expiry in the path, in front of the stream's files
 * (https://origin/hls/<md5>/<expires>/<stream>/index.m3u8), and the player
 * fetches the playlist again and again and every segment relative to it.
 * So every URL that starts with a signed base this page was given (the
 * playlist URL without its last path segment) is sent with the newest base
 * instead. Whatever the parts of the path are, only the prefix counts.
 *
 * Why "every base this page was given" and not only the one before: hls.js
 * reloads a live playlist at the URL it was first given, but resolves
 * segments relative to the address that answered the last reload, which was
 * already rewritten; so a request may start with the first base or with any
 * later one.
 *
 * Revocation: when the endpoint answers 410, no fresh URL comes; the video
 * plays on until the URL in use expires, and the origin then refuses it.
 * That is the intended end, so the page says so and asks no more.
 *
 * The texts are in the page (<template id="player-message-…">, in Finnish,
 * Swedish and English); this script only chooses which one the status
 * region shows.
 */
(function () {
  "use strict";

  const HLS_TYPE = "application/vnd.apple.mpegurl";
  // How often a stream that has not started yet (playlist 404, or no segments) is tried again.
  const NOT_STARTED_RETRY_SECONDS = 10;
  // A failed renewal (network error, 5xx) is tried again sooner than a due one, backing off.
  const RENEWAL_RETRY_SECONDS = 15;
  const RENEWAL_RETRY_MAX_SECONDS = 120;

  const video = document.getElementById("player");
  const status = document.getElementById("player-status");
  if (!video || !status) {
    return;
  }
  const renewalUrl = video.dataset.renewalUrl;
  const renewAfterSeconds = Number(video.dataset.renewAfterSeconds);

  const state = {
    playlistUrl: video.dataset.playlistUrl,
    // Every signed base this page was given, oldest first; the last one is the newest.
    bases: [],
    // The watch link answered 410 (access ended) or 403/404 (not valid now): no fresh URL comes.
    linkClosed: false,
    streamEnded: false,
    renewalTimer: undefined,
    renewalFailures: 0,
    retryTimer: undefined,
    mediaRecoveries: 0,
  };

  /** Shows the named message in the status region; the same one again is not announced again. */
  function show(name) {
    if (status.dataset.message === name) {
      return;
    }
    const template = document.getElementById("player-message-" + name);
    if (!template) {
      return;
    }
    status.dataset.message = name;
    status.replaceChildren(template.content.cloneNode(true));
  }

  /** Empties the status region if it shows one of `names` (the stream plays: nothing to say). */
  function clear(names) {
    if (names.indexOf(status.dataset.message) !== -1) {
      delete status.dataset.message;
      status.replaceChildren();
    }
  }

  /** The signed base of a URL: without its query, fragment and last path segment; ends in "/". */
  function baseOf(url) {
    const parsed = new URL(url, document.baseURI);
    parsed.search = "";
    parsed.hash = "";
    const href = parsed.href;
    return href.slice(0, href.lastIndexOf("/") + 1);
  }

  function newestBase() {
    return state.bases[state.bases.length - 1];
  }

  function adopt(playlistUrl) {
    state.playlistUrl = playlistUrl;
    const base = baseOf(playlistUrl);
    if (base !== newestBase()) {
      state.bases.push(base);
    }
  }

  /** `url` with an older signed base replaced by the newest; any other URL as it is. */
  function fresh(url) {
    const newest = newestBase();
    // The longest base first, should one ever be a prefix of another.
    const older = state.bases
      .filter(function (base) {
        return base !== newest && url.startsWith(base);
      })
      .sort(function (a, b) {
        return b.length - a.length;
      });
    return older.length ? newest + url.slice(older[0].length) : url;
  }

  function stopRenewing() {
    clearTimeout(state.renewalTimer);
    state.renewalTimer = undefined;
  }

  function scheduleRenewal(seconds) {
    stopRenewing();
    if (!state.linkClosed && !state.streamEnded && Number.isFinite(seconds)) {
      state.renewalTimer = setTimeout(renew, Math.max(1, seconds) * 1000);
    }
  }

  function retryRenewal() {
    const seconds = Math.min(
      RENEWAL_RETRY_SECONDS * Math.pow(2, state.renewalFailures),
      RENEWAL_RETRY_MAX_SECONDS,
    );
    state.renewalFailures += 1;
    scheduleRenewal(Math.min(seconds, renewAfterSeconds || seconds));
  }

  function closeLink(message) {
    state.linkClosed = true;
    stopRenewing();
    clearTimeout(state.retryTimer);
    show(message);
  }

  function endStream() {
    state.streamEnded = true;
    stopRenewing();
    clearTimeout(state.retryTimer);
    show("ended");
  }

  /** Asks the watch link for a fresh signed URL; what it answers decides what happens next. */
  async function renew() {
    if (state.linkClosed || state.streamEnded) {
      return;
    }
    let response;
    let answer;
    try {
      // no-store: a renewal is never answered from a cache; omit: the link's token is the key.
      response = await fetch(renewalUrl, {
        cache: "no-store",
        credentials: "omit",
        headers: { Accept: "application/json" },
      });
      // A refusal may say why as {"outcome": …}; anything else is no answer.
      answer = await response.json().catch(function () {
        return undefined;
      });
    } catch (error) {
      retryRenewal();
      return;
    }
    if (!response.ok && answer && answer.outcome === "ended") {
      // The link's window is over (403 with that outcome): the stream has ended, not the access.
      endStream();
      return;
    }
    if (response.status === 410) {
      closeLink("access-ended");
      return;
    }
    if (response.status === 403 || response.status === 404) {
      closeLink("not-valid-now");
      return;
    }
    if (!response.ok || !answer || typeof answer.playlist_url !== "string") {
      retryRenewal();
      return;
    }
    state.renewalFailures = 0;
    adopt(answer.playlist_url);
    scheduleRenewal(Number(answer.renew_after_seconds));
  }

  /** hls.js loads the stream again from the newest URL a little later (not started, or lost). */
  function loadLater(hls) {
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(function () {
      if (!state.linkClosed && !state.streamEnded) {
        hls.loadSource(state.playlistUrl);
      }
    }, NOT_STARTED_RETRY_SECONDS * 1000);
  }

  function onHlsError(hls, data) {
    const details = Hls.ErrorDetails;
    if (data.details === details.LEVEL_EMPTY_ERROR && !state.streamEnded) {
      // A live playlist with no segment yet: the encoder has only just started.
      show("not-started");
    }
    if (!data.fatal) {
      return;
    }
    if (state.linkClosed || state.streamEnded) {
      // The last URL ran out after a 410 (as intended), or the stream is over: say nothing new.
      hls.stopLoad();
      return;
    }
    if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
      // No playlist yet (404), an empty one, or the origin out of reach: try again in a while.
      show("not-started");
      loadLater(hls);
      return;
    }
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR && state.mediaRecoveries === 0) {
      state.mediaRecoveries += 1;
      hls.recoverMediaError();
      return;
    }
    hls.destroy();
    stopRenewing();
    show("unsupported");
  }

  function playWithHlsJs() {
    const hls = new Hls({
      // Every request hls.js makes goes out with the newest signed base (see the top).
      xhrSetup: function (xhr, url) {
        xhr.open("GET", fresh(url), true);
      },
    });
    hls.on(Hls.Events.ERROR, function (event, data) {
      onHlsError(hls, data);
    });
    hls.on(Hls.Events.LEVEL_LOADED, function (event, data) {
      if (data.details.fragments.length) {
        clear(["loading", "not-started"]);
      }
    });
    hls.on(Hls.Events.BUFFER_EOS, function () {
      // The playlist ended (#EXT-X-ENDLIST) and all of it is buffered: nothing more to renew.
      if (video.paused) {
        endStream();
      } else {
        stopRenewing();
      }
    });
    hls.attachMedia(video);
    hls.loadSource(state.playlistUrl);
  }

  function playNatively() {
    // Safari plays HLS itself and fetches the playlist and segments without
    // asking this script, so a fresh URL cannot be slipped under it: it plays
    // until the URL it was given expires. Renewal then means loading the
    // source again from the newest URL (a short break), which happens when
    // the video stops with an error; the renewal endpoint is still asked, so
    // that a viewer whose access ended is told.
    video.addEventListener("error", function () {
      if (state.linkClosed || state.streamEnded) {
        return;
      }
      show("not-started");
      clearTimeout(state.retryTimer);
      state.retryTimer = setTimeout(function () {
        video.src = state.playlistUrl;
      }, NOT_STARTED_RETRY_SECONDS * 1000);
    });
    video.addEventListener("loadedmetadata", function () {
      clear(["loading", "not-started"]);
    });
    video.src = state.playlistUrl;
  }

  adopt(state.playlistUrl);
  video.addEventListener("playing", function () {
    clear(["loading", "not-started"]);
  });
  video.addEventListener("ended", endStream);
  // hls.js first even where the browser also claims HLS (recent Chromium
  // does): it is what lets the page renew the URL without a break.
  if (typeof Hls !== "undefined" && Hls.isSupported()) {
    show("loading");
    playWithHlsJs();
  } else if (video.canPlayType(HLS_TYPE)) {
    show("loading");
    playNatively();
  } else {
    show("unsupported");
    return;
  }
  scheduleRenewal(renewAfterSeconds);
})();
