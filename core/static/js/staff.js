/* Staff app: scan the QR code on a customer's booking with the browser's own
   BarcodeDetector (no library, no CDN). Where there is no detector or no camera, the
   page keeps working with the typed code. */
(function () {
  "use strict";
  var box = document.querySelector("[data-scanner]");
  var form = document.getElementById("code-form");
  if (!box || !form) { return; }
  var input = form.querySelector("input[name=code]");
  var video = document.getElementById("scanner-video");
  var start = box.querySelector("[data-scan-start]");
  var stop = box.querySelector("[data-scan-stop]");
  var status = box.querySelector("[data-scan-status]");
  var supported = "BarcodeDetector" in window && navigator.mediaDevices &&
    typeof navigator.mediaDevices.getUserMedia === "function";
  if (!supported) {
    var note = document.querySelector("[data-scan-unsupported]");
    if (note) { note.hidden = false; }
    return;
  }
  box.hidden = false;
  var stream = null;
  var timer = null;
  var detector = null;

  function say(key) { status.textContent = status.getAttribute("data-msg-" + key) || ""; }

  /* A QR code may hold the bare code or a link ending in it: keep the last run of
     letters and digits. */
  function codeFrom(text) {
    var runs = String(text || "").trim().match(/[A-Za-z0-9]{4,}/g);
    return runs ? runs[runs.length - 1].toUpperCase() : "";
  }

  function halt() {
    if (timer) { window.clearTimeout(timer); timer = null; }
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    video.hidden = true;
    stop.hidden = true;
    start.hidden = false;
  }

  function scan() {
    if (!stream) { return; }
    detector.detect(video).then(function (codes) {
      var code = codes.length ? codeFrom(codes[0].rawValue) : "";
      if (code) {
        input.value = code;
        say("found");
        halt();
        form.submit();
        return;
      }
      timer = window.setTimeout(scan, 250);
    }).catch(function () { timer = window.setTimeout(scan, 500); });
  }

  start.addEventListener("click", function () {
    try {
      detector = detector || new window.BarcodeDetector({ formats: ["qr_code"] });
    } catch (e) {
      say("denied");
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        start.hidden = true;
        stop.hidden = false;
        say("looking");
        return video.play();
      })
      .then(scan)
      .catch(function () { halt(); say("denied"); });
  });
  stop.addEventListener("click", halt);
  window.addEventListener("pagehide", halt);
})();
