// Static search over the entity pages with Pagefind (the index is built with the release).
const form = document.getElementById("search-form");
const input = document.getElementById("q");
const status = document.getElementById("search-status");
const list = document.getElementById("search-results");
const siteRoot = new URL("../", document.location.href);
let pagefind;

async function engine() {
  if (!pagefind) {
    pagefind = await import(new URL("pagefind/pagefind.js", siteRoot).href);
    await pagefind.options({ baseUrl: siteRoot.pathname });
  }
  return pagefind;
}

async function run(query) {
  list.replaceChildren();
  if (!query.trim()) {
    status.textContent = "请输入企业名称或统一社会信用代码。";
    return;
  }
  status.textContent = "正在查询…";
  const search = await (await engine()).search(query.trim());
  const results = await Promise.all(search.results.slice(0, 20).map((r) => r.data()));
  for (const result of results) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = result.url;
    link.textContent = result.meta.title || result.url;
    const excerpt = document.createElement("p");
    excerpt.textContent = result.excerpt.replace(/<[^>]+>/g, "");
    item.append(link, excerpt);
    list.append(item);
  }
  status.textContent = results.length ? `找到 ${search.results.length} 个市场主体。` : "没有找到匹配的市场主体。";
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
