// Writes a deterministic corpus of user-agent-like inputs, one a line, to
// stdout: fragments that hit and miss the rules of examples/rules.jsonl,
// mixed case, non-ASCII text and a few invalid UTF-8 lines.
// Usage: node gen-corpus.mjs [COUNT] > corpus.txt
const count = Number(process.argv[2] ?? 2000);
let seed = 0x9e3779b9;
function rand(n) {
  // xorshift32
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed % n;
}
const pick = (xs) => xs[rand(xs.length)];
const platforms = ["Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 14_5", "X11; Linux x86_64",
  "iPhone; CPU iPhone OS 17_5 like Mac OS X", "compatible; Googlebot/2.1; +http://www.google.com/bot.html",
  "compatible; bingbot/2.0", "compatible; YandexBot/3.0", "Linux; Android 14; Pixel 8"];
const tails = ["AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
  "Gecko/20100101 Firefox/127.0", "HeadlessChrome/125.0.6422.60", "Version/17.5 Mobile/15E148 Safari/604.1",
  "PhantomJS/2.1.1", "Puppeteer", "", "like Gecko"];
const tools = ["curl/8.5.0", "Wget/1.21.4", "wget/1.21", "python-requests/2.32.3", "Go-http-client/1.1",
  "curl/", "Python-urllib/3.12", "okhttp/4.12.0", "axios/1.7.2"];
const words = ["crawler", "Spider", "SCRAPER", "crawlers", "spidery", "webcrawler", "my-spider", "Яндекс",
  "яндекс", "YANDEXBOT", "bingbot", "BingBot", "googlebot/10.42", "Googlebot/2.x", "日本語", "🙂", "naïve",
  "Mozilla/5.0", "Mozilla/4.0 (compatible)", "(", ")", ";", "über-crawler", "spider_monkey"];
const lines = [];
for (let i = 0; i < count; i++) {
  switch (rand(6)) {
    case 0: lines.push(`Mozilla/5.0 (${pick(platforms)}) ${pick(tails)}`); break;
    case 1: lines.push(pick(tools)); break;
    case 2: lines.push(`${pick(tools)} ${pick(words)}`); break;
    case 3: {
      const n = 1 + rand(5);
      lines.push(Array.from({ length: n }, () => pick(words)).join(pick([" ", "", "/", "-"])));
      break;
    }
    case 4: lines.push(`Mozilla/5.0 (${pick(platforms)}) ${pick(words)} ${pick(tails)}`); break;
    default: {
      const n = rand(40);
      let s = "";
      for (let j = 0; j < n; j++) s += String.fromCharCode(32 + rand(95));
      lines.push(s);
    }
  }
}
lines.push("", " ", "Mozilla/5.0", "Googlebot/2.1", "Яндекс", "\t spider \t");
const out = [Buffer.from(lines.join("\n") + "\n")];
// Invalid UTF-8: only the Uint8Array path can carry these.
out.push(Buffer.from([0xff, 0xfe, 0x20, 0x63, 0x72, 0x61, 0x77, 0x6c, 0x65, 0x72, 0x0a]));
out.push(Buffer.concat([Buffer.from("curl/7.0 "), Buffer.from([0xc3, 0x28]), Buffer.from(" bingbot\n")]));
process.stdout.write(Buffer.concat(out));
