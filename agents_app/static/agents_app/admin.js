/*
 * Agent admin pages, no framework, no network beyond this site.
 *
 * 1. Agent form: the prompt-caching select is enabled only while the selected model can cache.
 *    The catalog's supports_prompt_caching per model is embedded in the page as JSON
 *    (<script id="model-caching-data" type="application/json">, keyed by the model select's option values).
 *    Choosing a model that cannot cache turns caching off, disables the select and says why
 *    (tooltip and help text); choosing one that can enables it again. A disabled select is not
 *    submitted, so it is re-enabled on submit and its value ("Off") reaches the server.
 * 2. Invoke panel: POSTs the prompt (CSRF token from the form), then polls the invocation's status
 *    JSON until it has finished and shows the response, its tokens, its cost (caching on or off) and
 *    what the cache saved. A finished turn is announced as a document event, "agent:invocation-finished"
 *    (detail: the status JSON), which the caching page uses to refresh its figures.
 * 3. Figures that refresh: an element with data-refresh-url (and data-refresh-ids="a b") re-fetches that
 *    URL after each finished turn and swaps in the elements of those ids from the answer's HTML, so the
 *    caching page's stats and sessions follow the invoke panel without a full reload. Its
 *    data-refreshes counts the swaps done (what tests wait for).
 */
(function () {
  "use strict";

  function setupCachingToggle() {
    var dataNode = document.getElementById("model-caching-data");
    var modelSelect = document.getElementById("id_model");
    var caching = document.getElementById("id_prompt_caching_enabled");
    if (!dataNode || !modelSelect || !caching) return;
    var catalog = JSON.parse(dataNode.textContent);
    var row = caching.closest(".form-row") || caching.parentNode;
    var help = document.getElementById("caching-explanation");
    if (!help) {
      help = document.createElement("div");
      help.id = "caching-explanation";
      help.className = "help caching-explanation";
      // Below the select, above the field's own help text.
      var box = caching.closest(".flex-container") || caching;
      box.insertAdjacentElement("afterend", help);
    }

    function update(modelChanged) {
      var info = catalog[modelSelect.value];
      var reason = "";
      if (!info) {
        reason = "Choose a model first: prompt caching depends on the model.";
      } else if (!info.supports_prompt_caching) {
        reason = info.display_name + " does not support prompt caching, so caching stays off for it.";
      }
      if (reason) {
        if (modelChanged && info) caching.value = "false";
        caching.disabled = true;
        caching.title = reason;
        row.title = reason;
        help.textContent = reason;
        row.classList.add("caching-unavailable");
      } else {
        caching.disabled = false;
        caching.removeAttribute("title");
        row.removeAttribute("title");
        help.textContent = info.cache_min_tokens
          ? info.display_name + " caches prompts of at least " + info.cache_min_tokens + " tokens per checkpoint."
          : "";
        row.classList.remove("caching-unavailable");
      }
    }

    modelSelect.addEventListener("change", function () { update(true); });
    var form = caching.form;
    if (form) form.addEventListener("submit", function () { caching.disabled = false; });
    update(false);
  }

  function text(node, value) { if (node) node.textContent = value; }

  function setupInvokePanel() {
    var form = document.querySelector("form[data-invoke-panel]");
    if (!form) return;
    var button = document.getElementById("invoke-button");
    var result = document.getElementById("invoke-result");
    var statusNode = document.getElementById("invoke-status");
    var responseNode = document.getElementById("invoke-response");
    var savedNode = document.getElementById("invoke-saved");
    var costNode = document.getElementById("invoke-cost");
    var tokensNode = document.getElementById("invoke-tokens");
    var link = document.getElementById("invoke-detail-link");
    var session = document.getElementById("invoke-session");
    var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;

    function show(data) {
      result.hidden = false;
      link.href = data.detail_url;
      text(link, "#" + data.id);
      statusNode.dataset.status = data.status;
      text(statusNode, data.status + (data.finished ? "" : "…"));
      if (data.session_id && session) session.value = data.session_id;
      if (!data.finished) return;
      text(responseNode, data.status === "failed" ? data.error : data.response);
      var t = data.tokens;
      text(tokensNode, "Input " + t.input_tokens + ", cache read " + t.cache_read_tokens + ", cache write " +
        t.cache_write_tokens + ", output " + t.output_tokens + " tokens" +
        (data.latency.time_to_first_token_ms != null ? "; first token after " + data.latency.time_to_first_token_ms + " ms" : "") +
        (data.premium_text ? ". " + data.premium_text : "") + ".");
      savedNode.hidden = !data.saved_text;
      text(savedNode, data.saved_text);
      costNode.hidden = !data.cost_text;
      costNode.dataset.value = data.money.cost;
      text(costNode, data.cost_text);
      document.dispatchEvent(new CustomEvent("agent:invocation-finished", { detail: data }));
    }

    function poll(url, delay) {
      window.setTimeout(function () {
        fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
          .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
          .then(function (data) {
            show(data);
            if (data.finished) { button.disabled = false; } else { poll(url, Math.min(delay * 1.5, 3000)); }
          })
          .catch(function (err) { text(statusNode, "could not read the status (" + err.message + ")"); button.disabled = false; });
      }, delay);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      savedNode.hidden = true;
      costNode.hidden = true;
      statusNode.dataset.status = "sending";
      text(statusNode, "sending…");
      text(responseNode, "");
      text(tokensNode, "");
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json", "X-CSRFToken": csrf },
        credentials: "same-origin",
      })
        .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
        .then(function (answer) {
          if (!answer.ok) {
            var errors = answer.data.errors || {};
            result.hidden = false;
            text(statusNode, Object.keys(errors).map(function (k) { return errors[k].join(" "); }).join(" ") || "refused");
            button.disabled = false;
            return;
          }
          show(answer.data);
          poll(answer.data.status_url, 500);
        })
        .catch(function (err) { result.hidden = false; text(statusNode, "failed: " + err.message); button.disabled = false; });
    });
  }

  function setupFigureRefresh() {
    var root = document.querySelector("[data-refresh-url]");
    if (!root) return;
    var ids = (root.dataset.refreshIds || "").split(" ").filter(Boolean);
    document.addEventListener("agent:invocation-finished", function () {
      fetch(root.dataset.refreshUrl, { headers: { Accept: "text/html" }, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          ids.forEach(function (id) {
            var next = fresh.getElementById(id);
            var current = document.getElementById(id);
            if (next && current) current.replaceWith(document.importNode(next, true));
          });
          root.dataset.refreshes = String(Number(root.dataset.refreshes || 0) + 1);
        })
        .catch(function () { /* the figures stay as they were; a reload shows the new ones */ });
    });
  }

  function start() { setupCachingToggle(); setupInvokePanel(); setupFigureRefresh(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
