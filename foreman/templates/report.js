(function () {
  "use strict";
  var audio = document.getElementById("player");
  var lines = Array.prototype.slice.call(document.querySelectorAll("#transcript li.line"));
  var starts = lines.map(function (l) { return parseFloat(l.getAttribute("data-t")); });
  var follow = document.getElementById("follow");
  var playhead = document.getElementById("playhead");
  var timeline = document.getElementById("timeline");

  function play(t) {
    if (!audio || !isFinite(t)) { return; }
    audio.currentTime = t;
    var p = audio.play();
    if (p && p.catch) { p.catch(function () {}); }
    mark();
  }

  // Any element with data-t plays from that time: citation and time buttons, lines.
  document.addEventListener("click", function (e) {
    var el = e.target.closest("[data-t]");
    if (!el) { return; }
    var sel = window.getSelection && window.getSelection();
    if (el.tagName !== "BUTTON" && sel && !sel.isCollapsed) { return; }
    play(parseFloat(el.getAttribute("data-t")));
  });

  // The line being played: the last one that starts at or before the playing time.
  var current = null;
  function lineAt(t) {
    var lo = 0, hi = starts.length - 1, best = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (starts[mid] <= t + 0.05) { best = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return best < 0 ? null : lines[best];
  }
  function mark() {
    if (!audio) { return; }
    var t = audio.currentTime;
    var line = lineAt(t);
    if (line !== current) {
      if (current) { current.classList.remove("playing"); current.removeAttribute("aria-current"); }
      if (line) {
        line.classList.add("playing");
        line.setAttribute("aria-current", "true");
        if (follow && follow.checked && !audio.paused) { line.scrollIntoView({ block: "nearest" }); }
      }
      current = line;
    }
    if (playhead) {
      var left = parseFloat(playhead.getAttribute("data-left"));
      var span = parseFloat(playhead.getAttribute("data-span"));
      var dur = parseFloat(playhead.getAttribute("data-duration"));
      var x = left + (dur > 0 ? Math.min(t / dur, 1) * span : 0);
      playhead.setAttribute("x1", x);
      playhead.setAttribute("x2", x);
    }
  }
  if (audio) {
    audio.addEventListener("timeupdate", mark);
    audio.addEventListener("seeked", mark);
  }

  // Clicking the timeline plays from that moment.
  if (timeline && playhead) {
    timeline.addEventListener("click", function (e) {
      var box = timeline.getBoundingClientRect();
      var vb = timeline.viewBox.baseVal;
      var x = (e.clientX - box.left) * vb.width / box.width;
      var left = parseFloat(playhead.getAttribute("data-left"));
      var span = parseFloat(playhead.getAttribute("data-span"));
      var dur = parseFloat(playhead.getAttribute("data-duration"));
      if (x >= left && span > 0) { play((x - left) / span * dur); }
    });
  }

  // Find in meeting: lines without every word are hidden, the words are marked.
  // Text is only ever set as text (never parsed as HTML).
  var find = document.getElementById("find");
  var found = document.getElementById("found");
  var texts = Array.prototype.slice.call(document.querySelectorAll("#transcript .text, #summary .text, #slides .slidetext"));
  var originals = texts.map(function (el) { return el.textContent; });
  var hits = [];
  var at = -1;
  function highlight(el, text, words) {
    el.textContent = "";
    if (!words.length) { el.textContent = text; return; }
    var lower = text.toLowerCase();
    var i = 0;
    while (i < text.length) {
      var next = -1, len = 0;
      for (var w = 0; w < words.length; w++) {
        var j = lower.indexOf(words[w], i);
        if (j >= 0 && (next < 0 || j < next)) { next = j; len = words[w].length; }
      }
      if (next < 0) { el.appendChild(document.createTextNode(text.slice(i))); break; }
      if (next > i) { el.appendChild(document.createTextNode(text.slice(i, next))); }
      var m = document.createElement("mark");
      m.textContent = text.slice(next, next + len);
      el.appendChild(m);
      i = next + len;
    }
  }
  function search() {
    var words = find.value.toLowerCase().split(/\s+/).filter(function (w) { return w.length > 0; });
    hits = [];
    at = -1;
    texts.forEach(function (el, k) {
      var text = originals[k];
      var lower = text.toLowerCase();
      var match = words.length > 0 && words.every(function (w) { return lower.indexOf(w) >= 0; });
      highlight(el, text, match ? words : []);
      var li = el.closest("#transcript li");
      if (li) {
        li.classList.toggle("hidden", words.length > 0 && !match);
      }
      if (match) { hits.push(el); }
    });
    found.textContent = words.length ? hits.length + (hits.length === 1 ? " match" : " matches") : "";
  }
  if (find) {
    find.addEventListener("input", search);
    find.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && hits.length) {
        e.preventDefault();
        at = (at + (e.shiftKey ? hits.length - 1 : 1)) % hits.length;
        hits[at].scrollIntoView({ block: "center" });
        found.textContent = (at + 1) + " of " + hits.length;
      } else if (e.key === "Escape") {
        find.value = "";
        search();
      }
    });
  }

  // Keys: / find, k play/pause, j and l 10 s back and forward.
  document.addEventListener("keydown", function (e) {
    var tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.key === "/" && find) { e.preventDefault(); find.focus(); }
    else if (!audio) { return; }
    else if (e.key === "k") { if (audio.paused) { audio.play().catch(function () {}); } else { audio.pause(); } }
    else if (e.key === "j") { play(Math.max(0, audio.currentTime - 10)); }
    else if (e.key === "l") { play(audio.currentTime + 10); }
  });
})();
