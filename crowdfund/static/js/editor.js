// The story editor's live preview: the text is sent to the server, which renders and
// sanitises it exactly as the campaign page will (markdown-it-py + nh3), and the returned
// HTML is shown. Also the "Insert" buttons for gallery images. Without scripts the
// "Preview the story without saving" button does the same with a page load.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var editor = document.querySelector(".story-editor");
    if (!editor) { return; }
    var source = document.getElementById(editor.dataset.source);
    var target = document.getElementById("story-preview");
    var form = source.form;
    var token = form.querySelector("input[name=csrf_token]");
    var timer = null;
    var sent = 0;

    function refresh() {
      var number = ++sent;
      var body = new FormData();
      body.append("text", source.value);
      if (token) { body.append("csrf_token", token.value); }
      fetch(editor.dataset.previewUrl, { method: "POST", body: body, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
        .then(function (html) {
          if (number === sent) { target.innerHTML = html; }  // a slower, older answer never wins
        })
        .catch(function () { /* keep the last preview; the form still saves */ });
    }

    source.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    });

    document.querySelectorAll(".insert-image").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var text = "\n\n" + button.dataset.insert + "\n\n";
        var start = source.selectionStart, end = source.selectionEnd;
        source.value = source.value.slice(0, start) + text + source.value.slice(end);
        source.selectionStart = source.selectionEnd = start + text.length;
        source.focus();
        refresh();
      });
    });
  });
})();
