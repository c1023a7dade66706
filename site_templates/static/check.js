// 批量核查 on the static site: reads pasted codes or an uploaded CSV/XLSX in the browser, checks each
// code's check characters (GB 32100, GB 11714), fetches only the index buckets it needs from check/
// (built with the release; see gongshi/checking.py, which the command `gongshi check` shares), and
// offers the result as CSV (UTF-8 with BOM). Nothing is sent anywhere but this site's own files.
(function () {
  "use strict";
  var MAX = 5000, START = 8, SHOWN = 200;
  var ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  var WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  var ORG = [3, 7, 9, 10, 5, 8, 4, 2];
  var HEADERS = ["统一社会信用代码", "credit_code", "社会信用代码", "信用代码"];
  var PROBLEMS = { length: "不是 18 位", charset: "含有代码中不能出现的字符", check: "第 18 位校验码不符", org_check: "组织机构代码部分的校验码不符" };
  var base = new URL("./", document.currentScript ? document.currentScript.src.replace(/static\/check\.js.*$/, "check/") : location.href);
  var form = document.getElementById("check-form"), area = document.getElementById("check-codes");
  var file = document.getElementById("check-file"), status = document.getElementById("check-status");
  var table = document.getElementById("check-results"), download = document.getElementById("check-download");
  var more = document.getElementById("check-more"), moreButton = document.getElementById("check-all");
  var result = null;

  function normalise(value) {
    return value.normalize("NFKC").replace(/\s+/g, "").toUpperCase();
  }
  function problem(code) {
    if (code.length !== 18) return "length";
    for (var i = 0; i < 18; i++) if (ALPHABET.indexOf(code[i]) < 0) return "charset";
    if (!/^[0-9]{6}$/.test(code.slice(2, 8))) return "charset";
    var total = 0;
    for (i = 0; i < 17; i++) total += ALPHABET.indexOf(code[i]) * WEIGHTS[i];
    if (ALPHABET[(31 - total % 31) % 31] !== code[17]) return "check";
    total = 0;
    for (i = 0; i < 8; i++) {
      var c = code[8 + i];
      total += (/[0-9]/.test(c) ? +c : c.charCodeAt(0) - 55) * ORG[i];
    }
    var check = 11 - total % 11;
    if ((check === 10 ? "X" : check === 11 ? "0" : String(check)) !== code[16]) return "org_check";
    return null;
  }
  function splitLine(line) {
    var cells = [], cell = "", quoted = false;
    for (var i = 0; i < line.length; i++) {
      var ch = line[i];
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') { cell += '"'; i++; }
        else if (ch === '"') quoted = false;
        else cell += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === "," || ch === "\t") { cells.push(cell); cell = ""; }
      else cell += ch;
    }
    cells.push(cell);
    return cells;
  }
  function codesFromRows(rows) {
    rows = rows.filter(function (r) { return r.some(function (c) { return String(c).trim(); }); });
    if (!rows.length) return [];
    var header = rows[0].map(function (c) { return String(c).trim(); });
    var column = -1;
    HEADERS.some(function (h) { column = header.indexOf(h); return column >= 0; });
    var body = column >= 0 ? rows.slice(1) : rows;
    column = Math.max(column, 0);
    return body.map(function (r) { return String(r[column] || "").trim(); }).filter(Boolean);
  }
  function codesFromText(text) {
    return codesFromRows(text.replace(/^\ufeff/, "").split(/\r?\n/).map(splitLine));
  }
  // XLSX: a zip of XML. Read the first sheet with the browser's own inflate (DecompressionStream).
  async function inflate(bytes) {
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  async function unzip(buffer, wanted) {
    var view = new DataView(buffer), found = {}, end = buffer.byteLength - 22;
    while (end >= 0 && view.getUint32(end, true) !== 0x06054b50) end--;
    if (end < 0) throw new Error("不是有效的 XLSX 文件");
    var count = view.getUint16(end + 10, true), at = view.getUint32(end + 16, true);
    for (var i = 0; i < count; i++) {
      var method = view.getUint16(at + 10, true), size = view.getUint32(at + 20, true);
      var nameLength = view.getUint16(at + 28, true), extra = view.getUint16(at + 30, true), note = view.getUint16(at + 32, true);
      var local = view.getUint32(at + 42, true);
      var name = new TextDecoder().decode(new Uint8Array(buffer, at + 46, nameLength));
      if (wanted.test(name)) {
        var start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
        var data = new Uint8Array(buffer, start, size);
        found[name] = new TextDecoder().decode(method === 8 ? await inflate(data) : data);
      }
      at += 46 + nameLength + extra + note;
    }
    return found;
  }
  async function codesFromXlsx(buffer) {
    var parts = await unzip(buffer, /^xl\/(sharedStrings\.xml|worksheets\/sheet1\.xml)$/);
    var xml = new DOMParser(), shared = [];
    if (parts["xl/sharedStrings.xml"]) {
      var strings = xml.parseFromString(parts["xl/sharedStrings.xml"], "application/xml").getElementsByTagName("si");
      for (var i = 0; i < strings.length; i++) shared.push(strings[i].textContent);
    }
    var sheet = xml.parseFromString(parts["xl/worksheets/sheet1.xml"] || "<x/>", "application/xml");
    var rows = [], elements = sheet.getElementsByTagName("row");
    for (i = 0; i < elements.length; i++) {
      var row = [], cells = elements[i].getElementsByTagName("c");
      for (var j = 0; j < cells.length; j++) {
        var ref = cells[j].getAttribute("r") || "", letters = ref.replace(/[0-9]/g, ""), column = 0;
        for (var k = 0; k < letters.length; k++) column = column * 26 + letters.charCodeAt(k) - 64;
        var value = cells[j].getElementsByTagName("v")[0], inline = cells[j].getElementsByTagName("t")[0];
        var text = cells[j].getAttribute("t") === "s" && value ? shared[+value.textContent] : (inline || value || {}).textContent || "";
        row[Math.max(column - 1, 0)] = text;
      }
      rows.push(Array.from(row, function (v) { return v || ""; }));
    }
    return codesFromRows(rows);
  }
  function bucketOf(code, chars) {
    var part = code.slice(START, START + chars);
    return part.length === chars ? part : "_";
  }
  async function json(path) {
    var response = await fetch(new URL(path, base));
    return response.ok ? response.json() : null;
  }
  async function check(codes) {
    var meta = await json("meta.json");
    var needed = {}, rows = [];
    var prepared = codes.map(function (given) {
      var code = normalise(given), why = problem(code);
      if (!why) needed[bucketOf(code, meta.chars)] = true;
      return { given: given, code: code, why: why };
    });
    var names = Object.keys(needed), buckets = {};
    var loaded = await Promise.all(names.map(function (b) { return json(b + ".json"); }));
    names.forEach(function (b, i) { buckets[b] = loaded[i] || {}; });
    var header = ["统一社会信用代码", "核查结果", "市场主体名称"].concat(meta.columns.map(function (c) { return c.label; }), ["数据日期"]);
    prepared.forEach(function (p) {
      var entity = p.why ? null : buckets[bucketOf(p.code, meta.chars)][p.code];
      var verdict = p.why ? "代码有误：" + PROBLEMS[p.why] : entity ? "已收录" : "未收录";
      var row = [p.given, verdict, entity ? entity.n : ""];
      meta.columns.forEach(function (c) { row.push(entity ? ((entity[c.key] || []).join("；") || c.none) : ""); });
      row.push(meta.release);
      rows.push(row);
    });
    return { header: header, rows: rows, day: meta.release };
  }
  // The first SHOWN rows go in the table (laying out 5,000 rows of eight cells takes seconds on a
  // phone); the rest on request. The download always has every row.
  function render(found, all) {
    var head = table.tHead.rows[0], body = table.tBodies[0];
    head.textContent = "";
    found.header.forEach(function (h) { var th = document.createElement("th"); th.scope = "col"; th.textContent = h; head.appendChild(th); });
    var fragment = document.createDocumentFragment();
    var rows = all ? found.rows : found.rows.slice(0, SHOWN);
    more.hidden = rows.length === found.rows.length;
    moreButton.textContent = "在表中列出全部 " + found.rows.length.toLocaleString() + " 行";
    document.getElementById("check-shown").textContent = rows.length < found.rows.length ?
      "，表中列出前 " + rows.length.toLocaleString() + " 行，全部结果见下载的 CSV" : "";
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      if (r[1] !== "已收录") tr.className = "unknown";
      r.forEach(function (v, i) { var td = document.createElement("td"); td.dataset.label = found.header[i]; td.textContent = v; tr.appendChild(td); });
      fragment.appendChild(tr);
    });
    body.textContent = "";
    body.appendChild(fragment);
    document.getElementById("check-day").textContent = found.day;
    table.hidden = false;
    document.getElementById("check-download-line").hidden = false;
  }
  function csv(found) {
    var lines = [found.header].concat(found.rows).map(function (r) {
      return r.map(function (v) {
        v = /^[=+\-@\t\r]/.test(v) ? "'" + v : v;
        return /[",\r\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
      }).join(",");
    });
    return new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
  }
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    var started = performance.now();
    try {
      var codes = codesFromText(area.value);
      if (file.files.length) {
        var chosen = file.files[0];
        var more = /\.xlsx$/i.test(chosen.name) ? await codesFromXlsx(await chosen.arrayBuffer()) : codesFromText(await chosen.text());
        codes = codes.concat(more);
      }
      if (!codes.length) { status.textContent = "请粘贴或上传统一社会信用代码。"; return; }
      if (codes.length > MAX) { status.textContent = "一次最多核查 5,000 个代码，收到 " + codes.length.toLocaleString() + " 个。"; return; }
      status.textContent = "正在核查 " + codes.length.toLocaleString() + " 个代码…";
      result = await check(codes);
      render(result);
      var malformed = result.rows.filter(function (r) { return r[1].indexOf("代码有误") === 0; }).length;
      var unknown = result.rows.filter(function (r) { return r[1] === "未收录"; }).length;
      status.textContent = "核查了 " + codes.length.toLocaleString() + " 个代码：" + malformed + " 个代码有误，" + unknown +
        " 个未收录（" + Math.round(performance.now() - started) + " 毫秒）。";
      status.dataset.done = "1";
    } catch (error) {
      status.textContent = "核查失败：" + error.message;
    }
  });
  moreButton.addEventListener("click", function () {
    if (result) render(result, true);
  });
  download.addEventListener("click", function () {
    if (!result) return;
    var link = document.createElement("a");
    link.href = URL.createObjectURL(csv(result));
    link.download = "批量核查-" + result.day + ".csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
  });
})();
