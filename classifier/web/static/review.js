// Keyboard triage: a key clicks the element that names it in data-key. No key acts while typing in a field
// (Escape leaves the field). Written for this page alone, no framework: it works offline and needs no build.
(function () {
  "use strict";
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (typing(event.target)) {
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    var key = event.key.toLowerCase();
    if (key === "l") {
      var label = document.getElementById("label");
      if (label) { event.preventDefault(); label.focus(); }
      return;
    }
    var target = document.querySelector('[data-key="' + key + '"]');
    if (!target) { return; }
    event.preventDefault();
    if (target.disabled) { return; }
    // One decision per page: a held or doubled key must not post twice.
    document.querySelectorAll("button[data-key]").forEach(function (b) { b.disabled = b !== target; });
    if (target.tagName === "BUTTON" && target.form) {
      if (target.form.requestSubmit) { target.form.requestSubmit(target); } else { target.click(); }
      target.disabled = true;
    } else {
      target.click();
    }
  });
})();
