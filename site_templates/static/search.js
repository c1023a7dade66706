// Static search over the entities' names and credit codes: the shards of search/ (written by
// gongshi.site.search, which documents the format). A name query fetches the shard of each of its
// two- and three-character fragments and keeps the names containing the whole query; a code query
// (eight characters or more) fetches the shard of its prefix.
const form = document.getElementById("search-form");
const input = document.getElementById("q");
const status = document.getElementById("search-status");
const list = document.getElementById("search-results");
const siteRoot = new URL("../", document.location.href);
const SHOWN = 50;
const shards = new Map();
let meta;

async function fetchJson(path) {
  if (!shards.has(path)) {
    shards.set(
      path,
      fetch(new URL(path, siteRoot)).then((response) => (response.ok ? response.json() : null)),
    );
  }
  return shards.get(path);
}

function fold(text) {
  return text.normalize("NFKC").toLowerCase().replace(/\s+/g, "");
}

function bucketOf(gram) {
  let value = 0;
  for (const c of gram) {
    value = (value * meta.multiplier + c.codePointAt(0)) % meta.buckets;
  }
  return value;
}

async function byName(query) {
  const chars = Array.from(fold(query));
  if (chars.length < 2) {
    return { found: [], note: "请至少输入两个字。" };
  }
  const grams = new Set();
  for (const size of [2, 3]) {
    for (let i = 0; i + size <= chars.length; i += 1) {
      grams.add(chars.slice(i, i + size).join(""));
    }
  }
  const lists = await Promise.all(
    [...grams].map(async (gram) => ((await fetchJson(`search/names/${bucketOf(gram)}.json`)) || {})[gram]),
  );
  if (lists.some((l) => !l)) {
    return { found: [], note: "" }; // a fragment no name has: nothing can match
  }
  const complete = lists.filter((l) => l.n <= l.e.length).sort((a, b) => a.n - b.n);
  const base = complete[0] || lists.sort((a, b) => a.n - b.n)[0];
  const wanted = chars.join("");
  const found = base.e.filter(([, name]) => fold(name).includes(wanted));
  const note = complete.length ? "" : `匹配的名称很多（含“${query.trim()}”的超过 ${base.e.length} 个），只列出一部分；请输入更完整的名称。`;
  return { found, note };
}

async function byCode(code) {
  let shard = await fetchJson(`search/codes/${code.slice(0, meta.code_prefix)}.json`);
  if (shard && !Array.isArray(shard)) {
    if (code.length < shard.split) {
      return { found: [], note: `以 ${code} 开头的代码有 ${shard.n} 个，请再多输入几位。` };
    }
    shard = await fetchJson(`search/codes/${code.slice(0, shard.split)}.json`);
  }
  return { found: (shard || []).filter(([c]) => c.startsWith(code)), note: "" };
}

async function run(query) {
  list.replaceChildren();
  const text = query.trim();
  if (!text) {
    status.textContent = "请输入企业名称或统一社会信用代码。";
    return;
  }
  status.textContent = "正在查询…";
  meta = meta || (await fetchJson("search/meta.json"));
  const code = fold(text).toUpperCase();
  let result;
  if (/^[0-9A-Z]+$/.test(code) && /[0-9]/.test(code)) {
    result =
      code.length >= meta.code_prefix
        ? await byCode(code)
        : { found: [], note: `按统一社会信用代码查询时，请输入至少 ${meta.code_prefix} 位。` };
  } else {
    result = await byName(text);
  }
  for (const [entityCode, name] of result.found.slice(0, SHOWN)) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = new URL(`entity/${entityCode}.html`, siteRoot).href;
    link.textContent = name;
    const detail = document.createElement("p");
    detail.className = "code muted";
    detail.textContent = entityCode;
    item.append(link, detail);
    list.append(item);
  }
  const count = result.found.length;
  const shown = count > SHOWN ? `，显示前 ${SHOWN} 个` : "";
  status.textContent =
    (count ? `找到 ${count} 个市场主体${shown}。` : "没有找到匹配的市场主体。") + (result.note ? ` ${result.note}` : "");
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const url = new URL(document.location.href);
  url.searchParams.set("q", input.value);
  history.replaceState(null, "", url);
  run(input.value);
});

const initial = new URL(document.location.href).searchParams.get("q");
if (initial) {
  input.value = initial;
  run(initial);
}
