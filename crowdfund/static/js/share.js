// "Copy" buttons next to the campaign link and the widget's embed code.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".copy-button").forEach(function (button) {
      var field = document.getElementById(button.dataset.copy);
      var label = button.textContent;
      button.hidden = false;
      button.addEventListener("click", function () {
        field.select();
        var done = function () {
          button.textContent = "✓ " + label;
          setTimeout(function () { button.textContent = label; }, 2000);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
        } else {
          document.execCommand("copy");
          done();
        }
      });
    });
  });
})();
