// The site menu on narrow screens: a disclosure button that shows and hides the links. The button is
// hidden in the HTML, so without JavaScript every link shows; the CSS folds the menu only while the
// button is visible and says aria-expanded="false".
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.querySelector(".nav-toggle");
    if (!button) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      button.setAttribute("aria-expanded", button.getAttribute("aria-expanded") === "true" ? "false" : "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        button.setAttribute("aria-expanded", "false");
        button.focus();
      }
    });
  });
}());
