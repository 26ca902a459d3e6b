// Live preview for the letter form, and hiding fields the chosen letter kind does not use.
// Progressive: without this script the form works with its "Vis forhåndsvisning" button.
(function () {
  "use strict";
  var form = document.getElementById("brevformular");
  if (!form) { return; }
  var frame = document.getElementById("forhaandsvisning");
  var status = document.getElementById("forhaandsvisning-status");
  var errorList = document.getElementById("forhaandsvisning-fejl");
  var kind = document.getElementById("felt-kind");
  var timer = null;
  var sequence = 0;

  function chosen() { return kind.options[kind.selectedIndex]; }

  function showFieldsForKind() {
    var option = chosen();
    var scope = option.getAttribute("data-scope");
    var recipients = option.getAttribute("data-recipients").split(" ");
    form.querySelectorAll("[data-for]").forEach(function (group) {
      var wanted = group.getAttribute("data-for");
      group.hidden = !(wanted === scope || (wanted === "adhoc" && option.value === "adhoc"));
    });
    [["modtager-borger", "citizen"], ["modtager-arbejdsgiver", "employer"]].forEach(function (pair) {
      var radio = document.getElementById(pair[0]);
      var allowed = recipients.indexOf(pair[1]) >= 0;
      radio.parentElement.hidden = !allowed;
      if (!allowed && radio.checked) {
        var other = form.querySelector("input[name=recipient]:not([id=" + pair[0] + "])");
        if (other && !other.disabled) { other.checked = true; }
      }
    });
  }

  function showErrors(errors) {
    errorList.textContent = "";
    errors.forEach(function (error) {
      var item = document.createElement("li");
      item.textContent = error.label + ": " + error.message;
      errorList.appendChild(item);
    });
    errorList.hidden = errors.length === 0;
  }

  function update() {
    var mine = ++sequence;
    var data = new FormData(form);
    data.set("action", "preview");
    status.textContent = "Opdaterer forhåndsvisningen …";
    fetch(form.getAttribute("data-preview-url"), {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json();
    }).then(function (body) {
      if (mine !== sequence) { return; }
      if (body.ok) {
        frame.srcdoc = body.html;
        showErrors([]);
        status.textContent = "Forhåndsvisningen er opdateret. Sådan ser brevet ud, hvis det sendes nu.";
      } else {
        showErrors(body.errors || []);
        status.textContent = "Brevet kan ikke vises endnu:";
      }
    }).catch(function () {
      if (mine === sequence) { status.textContent = "Forhåndsvisningen kunne ikke hentes."; }
    });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(update, 400);
  }

  kind.addEventListener("change", showFieldsForKind);
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  showFieldsForKind();
  update();
}());
