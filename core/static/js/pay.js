/* The online payment page: hand WeChat's JS bridge its parameters when asked, and poll
   the payment's status until the provider's notification settled it. Works without
   JavaScript too: "I have paid" asks the provider from the server. */
(function () {
  "use strict";
  var box = document.querySelector("[data-pay-status]");
  if (!box) { return; }
  var statusUrl = box.getAttribute("data-pay-status");
  var tries = 0;

  function poll() {
    tries += 1;
    fetch(statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data && data.status !== "pending" && data.next) {
          window.location.assign(data.next);
        } else if (tries < 200) {
          window.setTimeout(poll, 3000);
        }
      })
      .catch(function () { if (tries < 200) { window.setTimeout(poll, 5000); } });
  }

  var bridge = box.getAttribute("data-pay-bridge");
  var button = box.querySelector("[data-pay-invoke]");
  function invoke() {
    if (!bridge || typeof window.WeixinJSBridge === "undefined") { return; }
    window.WeixinJSBridge.invoke("getBrandWCPayRequest", JSON.parse(bridge), function () {
      poll();  // whatever WeChat says, the server's status is the truth
    });
  }
  if (button) {
    button.addEventListener("click", invoke);
    document.addEventListener("WeixinJSBridgeReady", invoke, false);
  }
  window.setTimeout(poll, 2000);
})();
