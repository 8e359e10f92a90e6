// Covenant's console: small conveniences on top of pages that work without this script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A file input with data-into="ID" reads the chosen file into that textarea.
  for (const input of document.querySelectorAll("input[type=file][data-into]")) {
    input.addEventListener("change", () => {
      const target = document.getElementById(input.dataset.into);
      const file = input.files && input.files[0];
      if (!target || !file) return;
      file.text().then((text) => { target.value = text; target.focus(); });
    });
  }
  // "/" focuses the search box (unless typing in a field already).
  const search = document.querySelector("[data-shortcut='/']");
  if (search) {
    document.addEventListener("keydown", (event) => {
      const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
      if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
        event.preventDefault();
        search.focus();
      }
    });
  }
  // A link to a marked field scrolls its line into view in the code box.
  const field = document.getElementById("field");
  if (field) field.scrollIntoView({ block: "center" });
});
