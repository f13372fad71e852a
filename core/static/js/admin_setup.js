/* Back-office set-up pages: small enhancements. Every form works without this file.
   - Roster: clicking a shift (or an empty day) fills the "Adjust a shift" form;
     dragging a shift to another day of the same person posts that form with move_from.
   - Brand: picking a colour unticks "Use the theme's colour". */
(function () {
  "use strict";

  function shiftForm() { return document.querySelector("[data-shift-form]"); }

  function fill(form, data) {
    form.elements.staff_id.value = data.staff;
    form.elements.day.value = data.day;
    if (data.start) { form.elements.start.value = data.start; }
    if (data.end) { form.elements.end.value = data.end; }
    form.elements.move_from.value = data.moveFrom || "";
  }

  document.addEventListener("click", function (event) {
    var cell = event.target.closest(".su-shift, .su-off");
    var form = shiftForm();
    if (!cell || !form) { return; }
    fill(form, { staff: cell.dataset.staff, day: cell.dataset.day,
                 start: cell.dataset.start, end: cell.dataset.end });
    var card = form.closest(".su-adjust");
    card.scrollIntoView({ block: "center" });
    card.classList.add("su-flash");
    window.setTimeout(function () { card.classList.remove("su-flash"); }, 1200);
    form.elements.start.focus();
  });

  var dragged = null;
  document.addEventListener("dragstart", function (event) {
    var shift = event.target.closest && event.target.closest(".su-shift");
    if (!shift) { return; }
    dragged = shift;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", shift.dataset.day);
  });
  document.addEventListener("dragend", function () {
    dragged = null;
    document.querySelectorAll(".su-drop-over").forEach(function (el) {
      el.classList.remove("su-drop-over");
    });
  });
  document.addEventListener("dragover", function (event) {
    var cell = event.target.closest && event.target.closest("[data-drop]");
    if (!cell || !dragged || cell.dataset.staff !== dragged.dataset.staff) { return; }
    event.preventDefault();
    cell.classList.add("su-drop-over");
  });
  document.addEventListener("dragleave", function (event) {
    var cell = event.target.closest && event.target.closest("[data-drop]");
    if (cell) { cell.classList.remove("su-drop-over"); }
  });
  document.addEventListener("drop", function (event) {
    var cell = event.target.closest && event.target.closest("[data-drop]");
    var form = shiftForm();
    if (!cell || !dragged || !form || cell.dataset.staff !== dragged.dataset.staff) { return; }
    event.preventDefault();
    if (cell.dataset.day === dragged.dataset.day) { return; }
    fill(form, { staff: dragged.dataset.staff, day: cell.dataset.day,
                 start: dragged.dataset.start, end: dragged.dataset.end,
                 moveFrom: dragged.dataset.day });
    form.submit();
  });

  document.addEventListener("input", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("[data-brand-form] input[type=color]")) { return; }
    var box = input.form.elements[input.name + "_theme"];
    if (box) { box.checked = false; }
  });
})();
