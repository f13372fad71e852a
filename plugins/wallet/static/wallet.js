/* The plan form's preview: "the customer pays X and gets X + bonus", updated as the
   amounts are typed (the server shows the same line for a saved plan). */
(function () {
  "use strict";
  var out = document.querySelector("[data-wl-preview]");
  if (!out) { return; }
  var pay = document.getElementById("f-pay_amount");
  var bonus = document.getElementById("f-bonus_amount");
  var fmt = new Intl.NumberFormat(out.dataset.locale || undefined,
    { style: "currency", currency: out.dataset.currency || "CNY" });
  function amount(input) {
    var text = (input && input.value || "").replace(/[,¥￥\s]/g, "");
    return /^\d+(\.\d{0,2})?$/.test(text) ? Number(text) : null;
  }
  function update() {
    var p = amount(pay), b = amount(bonus);
    if (p === null || p <= 0) { out.hidden = true; return; }
    b = b || 0;
    out.textContent = out.dataset.wlPreview.replace("{pay}", fmt.format(p))
      .replace("{gets}", fmt.format(p + b));
    out.hidden = false;
  }
  [pay, bonus].forEach(function (el) { if (el) { el.addEventListener("input", update); } });
  update();
}());
