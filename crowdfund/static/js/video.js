// Click to load the video: nothing is fetched from YouTube or Vimeo until the visitor
// presses play; then the privacy-enhanced player is put in place of the button.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".video[data-embed]").forEach(function (box) {
      var button = box.querySelector(".video-play");
      button.hidden = false;
      button.addEventListener("click", function () {
        var frame = document.createElement("iframe");
        var url = new URL(box.dataset.embed);
        url.searchParams.set("autoplay", "1");
        frame.src = url.toString();
        frame.title = box.dataset.title;
        frame.allow = "autoplay; fullscreen; picture-in-picture; encrypted-media";
        frame.allowFullscreen = true;
        frame.referrerPolicy = "strict-origin-when-cross-origin";
        frame.className = "video-frame";
        box.replaceChildren(frame);
      });
    });
  });
})();
