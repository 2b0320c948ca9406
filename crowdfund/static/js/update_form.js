// "Post an update": show only the milestone fields that apply to the chosen milestone and status.
// Without JavaScript every field stays visible, with hints saying when each one is needed.
(function () {
  "use strict";
  var form = document.querySelector(".update-form form");
  if (!form) return;
  var milestone = form.querySelector("select[name=milestone_id]");
  var details = form.querySelector("[data-milestone-details]");
  if (!milestone || !details) return;

  function status() {
    var checked = form.querySelector("input[name=milestone_status]:checked");
    return checked ? checked.value : "";
  }

  function refresh() {
    details.hidden = milestone.value === "";
    form.querySelectorAll("[data-when-status]").forEach(function (part) {
      var hasError = part.querySelector(".error") !== null;
      part.hidden = !hasError && part.getAttribute("data-when-status") !== status();
    });
  }

  milestone.addEventListener("change", refresh);
  form.querySelectorAll("input[name=milestone_status]").forEach(function (radio) {
    radio.addEventListener("change", refresh);
  });
  refresh();
})();
