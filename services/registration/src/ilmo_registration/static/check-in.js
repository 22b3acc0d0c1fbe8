// The door's check-in page (console/check_in.html): camera and photo scanning, and forms
// sent in the background. Without this script every form still works (a POST answered
// with the page). The page renders every text; this script only shows them.
(function () {
  "use strict";
  var root = document.querySelector("[data-check-in]");
  if (!root) return;
  var result = document.getElementById("check-in-result");
  var video = root.querySelector("[data-camera]");
  var scanButton = root.querySelector("[data-scan]");
  var stopButton = root.querySelector("[data-stop-scan]");
  var photo = root.querySelector("[data-photo]");
  var codeField = root.querySelector("[data-code]");
  var codeForm = codeField && codeField.form;
  var stream = null;
  var busy = false;

  root.querySelectorAll("[data-needs-script]").forEach(function (element) {
    element.hidden = false;
  });

  function say(tone, heading, text) {
    result.className = "door-result " + tone;
    result.textContent = "";
    var title = document.createElement("p");
    title.className = "door-result-heading";
    var icon = document.createElement("span");
    icon.className = "door-icon";
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = tone === "refused" ? "\u2715" : "!";
    title.appendChild(icon);
    title.appendChild(document.createTextNode(" " + heading));
    result.appendChild(title);
    if (text) {
      var line = document.createElement("p");
      line.textContent = text;
      result.appendChild(line);
    }
  }

  // A decoder: the browser's BarcodeDetector where it reads QR codes, else jsQR (vendored,
  // loaded only when needed). Both take an image source and answer the code's text or null.
  var decoderReady = null;
  function decoder() {
    if (decoderReady) return decoderReady;
    decoderReady = (async function () {
      if ("BarcodeDetector" in window) {
        try {
          var formats = await window.BarcodeDetector.getSupportedFormats();
          if (formats.indexOf("qr_code") >= 0) {
            var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
            return async function (source) {
              var found = await detector.detect(source);
              return found.length ? found[0].rawValue : null;
            };
          }
        } catch (error) {
          // Fall through to jsQR.
        }
      }
      await new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = root.getAttribute("data-decoder");
        script.onload = resolve;
        script.onerror = reject;
        document.head.appendChild(script);
      });
      var canvas = document.createElement("canvas");
      var context = canvas.getContext("2d", { willReadFrequently: true });
      return async function (source) {
        var width = source.videoWidth || source.width;
        var height = source.videoHeight || source.height;
        if (!width || !height) return null;
        canvas.width = width;
        canvas.height = height;
        context.drawImage(source, 0, 0, width, height);
        var pixels = context.getImageData(0, 0, width, height);
        var found = window.jsQR(pixels.data, width, height);
        return found ? found.data : null;
      };
    })();
    return decoderReady;
  }

  function submitCode(code) {
    codeField.value = code;
    send(codeForm);
  }

  // Forms go in the background; the answer is the page, whose result, count and search
  // results replace this page's. A request that fails says so in the result panel.
  async function send(form) {
    if (busy) return;
    busy = true;
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (button) { button.disabled = true; });
    try {
      var response = await fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
      });
      var page = new DOMParser().parseFromString(await response.text(), "text/html");
      var answer = page.getElementById("check-in-result");
      if (!answer) {
        // Not the check-in page (the session ended, a refusal): show what the server said.
        window.location.assign(response.url);
        return;
      }
      result.className = answer.className;
      result.innerHTML = answer.innerHTML;
      ["check-in-count", "search-results"].forEach(function (id) {
        var fresh = page.getElementById(id);
        var here = document.getElementById(id);
        if (fresh && here) here.innerHTML = fresh.innerHTML;
      });
      if (form === codeForm) codeField.value = "";
    } catch (error) {
      say("refused", root.getAttribute("data-text-offline-heading"), root.getAttribute("data-text-offline"));
    } finally {
      buttons.forEach(function (button) { button.disabled = false; });
      busy = false;
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-check-in-form")) return;
    event.preventDefault();
    send(form);
  });

  function stopCamera() {
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    video.hidden = true;
    stopButton.hidden = true;
    scanButton.hidden = false;
  }

  async function scanFrames(decode) {
    while (stream) {
      if (video.readyState >= 2) {
        var code = null;
        try { code = await decode(video); } catch (error) { code = null; }
        if (code) {
          stopCamera();
          scanButton.focus(); // the stop button it had is gone; the next scan is one press away
          submitCode(code);
          return;
        }
      }
      await new Promise(function (resolve) { window.setTimeout(resolve, 150); });
    }
  }

  scanButton.addEventListener("click", async function () {
    try {
      var decode = await decoder();
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment" },
        audio: false,
      });
      video.srcObject = stream;
      video.hidden = false;
      stopButton.hidden = false;
      scanButton.hidden = true;
      await video.play();
      stopButton.focus();
      scanFrames(decode);
    } catch (error) {
      stopCamera();
      say("refused", root.getAttribute("data-text-no-camera"), "");
    }
  });

  stopButton.addEventListener("click", function () {
    stopCamera();
    scanButton.focus();
  });

  photo.addEventListener("change", async function () {
    var file = photo.files && photo.files[0];
    if (!file) return;
    var code = null;
    try {
      var decode = await decoder();
      code = await decode(await createImageBitmap(file));
    } catch (error) {
      code = null;
    }
    photo.value = "";
    if (code) submitCode(code);
    else say("refused", root.getAttribute("data-text-no-code"), "");
  });
})();
