// Progressive enhancement for the control plane (hand-written, no framework). Without it every form still works:
// the entity_labels editor always renders one blank group and one blank value row per group to fill in.
(function () {
  "use strict";

  function renumber(node, from, to) {
    node.querySelectorAll("[name], [id], [for]").forEach(function (el) {
      ["name", "id", "for"].forEach(function (attr) {
        var value = el.getAttribute(attr);
        if (value) el.setAttribute(attr, value.replace(from, to));
      });
    });
  }

  function clearInputs(node) {
    node.querySelectorAll("input[type=text]").forEach(function (input) { input.value = ""; });
    node.querySelectorAll("input[type=checkbox][name$='-remove']").forEach(function (box) {
      box.closest("label").remove();
    });
  }

  function addValueRow(group) {
    var rows = group.querySelectorAll("[data-value-row]");
    var last = rows[rows.length - 1];
    var copy = last.cloneNode(true);
    var g = group.dataset.group;
    var next = rows.length;
    var pattern = new RegExp("entity_labels-" + g + "-value-\\d+-");
    renumber(copy, pattern, "entity_labels-" + g + "-value-" + next + "-");
    clearInputs(copy);
    last.parentNode.appendChild(copy);
    copy.querySelector("input").focus();
  }

  function addGroup(editor) {
    var groups = editor.querySelectorAll("fieldset.label-group");
    var template = editor.querySelector("fieldset.label-group[data-blank]") || groups[groups.length - 1];
    var copy = template.cloneNode(true);
    var next = groups.length;
    var g = template.dataset.group;
    renumber(copy, new RegExp("entity_labels-" + g + "-", "g"), "entity_labels-" + next + "-");
    renumber(copy, new RegExp("el-" + g + "-", "g"), "el-" + next + "-");
    copy.dataset.group = String(next);
    clearInputs(copy);
    copy.querySelectorAll("[data-value-row]").forEach(function (row, index) { if (index > 0) row.remove(); });
    wire(copy);
    template.parentNode.insertBefore(copy, editor.querySelector("[data-add-group]"));
    copy.querySelector("input").focus();
  }

  function wire(group) {
    var button = group.querySelector("[data-add-value]");
    if (button) {
      button.hidden = false;
      button.addEventListener("click", function () { addValueRow(group); });
    }
  }

  document.querySelectorAll("#entity-labels-editor").forEach(function (editor) {
    editor.querySelectorAll("fieldset.label-group").forEach(wire);
    var addGroupButton = editor.querySelector("[data-add-group]");
    if (addGroupButton) {
      addGroupButton.hidden = false;
      addGroupButton.addEventListener("click", function () { addGroup(editor); });
    }
  });
})();
