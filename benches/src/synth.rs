//! `dfabake-synth`: a seeded generator of realistic rule sets for scale tests.
//!
//! ```text
//! dfabake-synth --rules N [--seed S] [--inputs M] [--profile simple|uap] --out-rules FILE.jsonl [--out-inputs FILE.txt]
//! ```
//!
//! Rules look like user-agent, routing and WAF rules: product tokens with
//! version numbers, literals, classes, `\d+`, `[^;]*`, alternations and
//! optional groups, some case-insensitive; ids are 1..=N in file order.
//! Inputs are user-agent-like strings, about a third built to hit a rule.
//!
//! `--profile uap` (default `--profile simple`, the above, unchanged) instead
//! emits a list shaped like uap-core's `regexes.yaml`: one ordered list of
//! ~37% browser/bot, ~17% OS and ~46% device rules (`payload.section`), with
//! the real list's worst shapes: giant capture-group alternations of bot names
//! mixing literals, bounded classes and gaps, `\b\w{0,30}favicon\w{0,30}\b`
//! and `^NAME` branches with nested optional version tails; `.*` / `.{0,N}`
//! gaps between tokens; hundreds of `(?i)` brand/model rules sharing the
//! literal ` Build`; generic catch-alls at the end. Its inputs are realistic
//! user agents (desktop, Android, iOS, bots, tools, TVs, ~3% non-ASCII); see
//! the `uap` module below.

use std::io::Write;

use anyhow::{Context, Result};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const SYLLABLES: &[&str] = &[
    "bot", "crawl", "spider", "fetch", "scan", "agent", "link", "feed", "news", "shop", "mail",
    "search", "index", "data", "cloud", "net", "web", "page", "seo", "meta", "rank", "site",
    "view", "check", "probe", "map", "go", "java", "py", "node", "app", "mobile", "tv", "pay",
];
const PLATFORMS: &[&str] = &[
    "Windows NT 10.0",
    "X11; Linux x86_64",
    "Macintosh; Intel Mac OS X 10_15_7",
    "Linux; Android 13",
    "iPhone; CPU iPhone OS 17_1 like Mac OS X",
];

fn word(r: &mut Rng) -> String {
    let n = 2 + r.below(2);
    let mut w: String = (0..n).map(|_| r.pick(SYLLABLES)).collect();
    if r.below(2) == 0 {
        let mut c = w.chars();
        w = c.next().unwrap().to_ascii_uppercase().to_string() + c.as_str();
    }
    w
}

fn rule(r: &mut Rng, name: &str) -> (String, &'static str) {
    let flags = if r.below(5) == 0 { "i" } else { "" };
    let pattern = match r.below(8) {
        0 => format!("{name}/"),
        1 => format!(r"{name}/\d+(\.\d+)*"),
        2 => format!(r"{name}[-_ ]?(?:bot|crawler)"),
        3 => format!(r"\({name}[^;)]*;"),
        4 => format!(r"^{name}(?:/[\d.]+)?(?: \(\+https?://[^)]+\))?"),
        5 => format!("(?:{name}|{}|{})", word(r), word(r)),
        6 => format!(r"{name}\s*\d{{1,4}}"),
        _ => format!(r"compatible; {name}[^;]*"),
    };
    (pattern, flags)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let get = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let n: usize = get("--rules").context("--rules N")?.parse()?;
    let seed: u64 = get("--seed").map_or(Ok(1), |s| s.parse())?;
    let inputs: usize = get("--inputs").map_or(Ok(2000), |s| s.parse())?;
    match get("--profile").as_deref().unwrap_or("simple") {
        "simple" => {}
        "uap" => {
            let rules_path = get("--out-rules").context("--out-rules")?;
            return uap::run(n, seed, inputs, &rules_path, get("--out-inputs").as_deref());
        }
        other => anyhow::bail!("unknown --profile {other:?} (expected simple or uap)"),
    }
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut names = Vec::with_capacity(n);
    let mut out = std::io::BufWriter::new(std::fs::File::create(
        get("--out-rules").context("--out-rules")?,
    )?);
    for id in 1..=n {
        let name = format!("{}{}", word(&mut r), id);
        let (pattern, flags) = rule(&mut r, &name);
        let line = serde_json::json!({"id": id, "pattern": pattern, "flags": flags, "payload": {"name": name}});
        writeln!(out, "{line}")?;
        names.push(name);
    }
    out.flush()?;
    if let Some(path) = get("--out-inputs") {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for i in 0..inputs {
            let platform = r.pick(PLATFORMS);
            let product = if i % 3 == 0 {
                names[r.below(names.len())].clone()
            } else {
                word(&mut r)
            };
            writeln!(
                out,
                "Mozilla/5.0 ({platform}; compatible; {product}/{}.{}; +https://example.com/{}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0 Safari/537.36",
                r.below(20),
                r.below(10),
                word(&mut r),
                90 + r.below(40)
            )?;
        }
        out.flush()?;
    }
    Ok(())
}

/// `--profile uap`: rule lists shaped like uap-core's `regexes.yaml`.
///
/// The list is generated (names from small realistic pools plus synthetic
/// ones), not copied; the fixed rules are the handful of well-known shapes
/// every such list has (Windows NT versions, Android/iOS versions, the major
/// browsers, generic Android catch-alls).
mod uap {
    use std::collections::HashSet;
    use std::io::Write;

    use anyhow::Result;
    use serde_json::{json, Value};

    use super::Rng;

    /// The nested optional version tail uap-core puts after product lists.
    const VERSION_TAIL: &str = r"(?:[ /]v?(\d+)(?:\.(\d+)(?:\.(\d+)|)|)|)";

    const BOT_SYL: &[&str] = &[
        "crawl", "spider", "fetch", "scan", "link", "feed", "news", "shop", "mail", "seek",
        "index", "data", "cloud", "page", "seo", "meta", "rank", "site", "check", "probe", "map",
        "archiv", "harvest", "trawl", "quest", "scout", "lens", "echo", "pulse", "orbit", "nova",
        "zeta", "vega", "kilo", "tera", "giga", "lumen", "sift", "glean", "trace", "radar",
        "sonar", "hawk", "owl", "ant", "bee", "moth", "wasp", "kite", "gull", "crow", "fox",
        "lynx", "mole", "newt", "yak",
    ];

    /// Real crawler / bot / HTTP-client names (the kind of names such lists hold).
    const REAL_BOTS: &[&str] = &[
        "bingbot",
        "BingPreview",
        "Baiduspider",
        "YandexBot",
        "YandexImages",
        "YandexMobileBot",
        "DuckDuckBot",
        "Slurp",
        "facebookexternalhit",
        "Facebot",
        "Twitterbot",
        "LinkedInBot",
        "Pinterestbot",
        "Applebot",
        "AhrefsBot",
        "SemrushBot",
        "MJ12bot",
        "DotBot",
        "PetalBot",
        "CCBot",
        "GPTBot",
        "ClaudeBot",
        "Bytespider",
        "SeznamBot",
        "Sogou web spider",
        "Exabot",
        "ia_archiver",
        "heritrix",
        "Nutch",
        "Scrapy",
        "MegaIndex.ru",
        "BLEXBot",
        "DataForSeoBot",
        "serpstatbot",
        "Amazonbot",
        "AwarioBot",
        "Barkrowler",
        "coccocbot-web",
        "Qwantify",
        "Mail.RU_Bot",
        "SputnikBot",
        "YisouSpider",
        "360Spider",
        "HaoSouSpider",
        "Yeti",
        "Daumoa",
        "ichiro",
        "Gigabot",
        "TurnitinBot",
        "Screaming Frog SEO Spider",
        "Pingdom.com_bot",
        "UptimeRobot",
        "StatusCake",
        "Site24x7",
        "GTmetrix",
        "Chrome-Lighthouse",
        "PhantomJS",
        "WhatsApp",
        "TelegramBot",
        "Discordbot",
        "Slackbot",
        "Slack-ImgProxy",
        "SkypeUriPreview",
        "redditbot",
        "Embedly",
        "Iframely",
        "Feedly",
        "Feedbin",
        "NewsBlur",
        "Inoreader",
        "FeedFetcher-Google",
        "Mediapartners-Google",
        "AdsBot-Google",
        "APIs-Google",
        "Google-InspectionTool",
        "Storebot-Google",
        "archive.org_bot",
        "msnbot",
        "msrbot",
        "MojeekBot",
        "Neevabot",
        "Cliqzbot",
        "Linguee Bot",
        "findlinks",
        "larbin",
        "htdig",
        "grub-client",
        "gsa-crawler",
        "ICC-Crawler",
        "Sitebulb",
        "Xenu Link Sleuth",
        "W3C_Validator",
        "W3C-checklink",
        "LinkChecker",
        "linkdexbot",
        "Wotbox",
        "ZoominfoBot",
        "ltx71",
        "netEstate NE Crawler",
        "SurdotlyBot",
        "Seekport Crawler",
        "Nimbostratus-Bot",
        "CensysInspect",
        "masscan",
        "zgrab",
        "Nmap Scripting Engine",
        "Netcraft Web Server Survey",
        "InternetMeasurement",
        "BUbiNG",
        "Riddler",
        "ZumBot",
        "SafeDNSBot",
        "Cocolyzebot",
        "Adsbot",
        "PaperLiBot",
        "Flamingo_SearchEngine",
        "IlTrovatore-Setaccio",
        "KaloogaBot",
        "LexxeBot",
        "Mnogosearch",
        "NetResearchServer",
        "OrangeBot",
        "Pompos",
        "Qseero",
        "RetrevoPageAnalyzer",
        "SBIder",
        "SeekBot",
        "ShopWiki",
        "Snappy",
        "Speedy Spider",
        "TerrawizBot",
        "TinEye",
        "Twiceler",
        "VoilaBot",
        "WebAlta Crawler",
        "WomlpeFactory",
        "YodaoBot",
        "ZyBorg",
        "Sosospider",
        "EasouSpider",
        "Qihoobot",
        "Jyxobot",
        "Toutiaospider",
    ];

    const APP_SYL: &[&str] = &[
        "Swift", "Nimbus", "Orbit", "Pixel", "Lumen", "Quill", "Ember", "Harbor", "Cobalt",
        "Zephyr", "Maple", "Aurora", "Falcon", "Meadow", "Comet", "Drift", "Prism", "Vertex",
        "Juniper", "Sable", "Tundra", "Willow", "Atlas", "Beacon", "Cascade", "Delta", "Fjord",
        "Glacier", "Helix", "Indigo", "Kestrel", "Lagoon", "Mosaic", "Nectar", "Onyx", "Pulsar",
        "Quasar", "Raven", "Sierra", "Talon", "Umber", "Vista", "Wren", "Xenon", "Yonder",
        "Zenith",
    ];
    const APP_SUFFIX: &[&str] = &[
        "Browser",
        "App",
        "Client",
        "Reader",
        "Player",
        "Mail",
        "Shell",
        "View",
        "Go",
        "Lite",
        "HD",
        "Pro",
        "Cast",
        "Radio",
        "Pod",
        "News",
        "Sync",
        "Box",
        "TV",
        "Messenger",
    ];

    /// Real minor browsers / in-app browsers / clients.
    const REAL_APPS: &[&str] = &[
        "Vivaldi",
        "Brave",
        "YaBrowser",
        "UCBrowser",
        "MiuiBrowser",
        "HeyTapBrowser",
        "QQBrowser",
        "Maxthon",
        "Puffin",
        "Silk",
        "Opera Mini",
        "Opera Touch",
        "Whale",
        "Sleipnir",
        "Iron",
        "Comodo_Dragon",
        "PaleMoon",
        "Waterfox",
        "SeaMonkey",
        "Iceweasel",
        "IceCat",
        "Midori",
        "Epiphany",
        "Konqueror",
        "Falkon",
        "QupZilla",
        "Otter",
        "qutebrowser",
        "Dooble",
        "Lunascape",
        "coc_coc_browser",
        "LBBROWSER",
        "2345Explorer",
        "Quark",
        "baiduboxapp",
        "BIDUBrowser",
        "MQQBrowser",
        "MicroMessenger",
        "Weibo",
        "AlipayClient",
        "DingTalk",
        "Line",
        "KAKAOTALK",
        "FBAV",
        "Instagram",
        "Snapchat",
        "Pinterest",
        "musical_ly",
        "Spotify",
        "Teams",
        "GSA",
        "NAVER",
        "YandexSearch",
        "Mb2345Browser",
        "VivoBrowser",
        "OppoBrowser",
        "HuaweiBrowser",
        "Veera",
        "Kiwi",
        "Lemur",
        "Mint Browser",
        "Sputnik",
        "Amigo",
        "Iridium",
        "Slimjet",
        "Chromium",
        "Electron",
        "NokiaBrowser",
        "NetFront",
        "Dolfin",
        "Obigo",
        "Polaris",
        "Openwave",
        "Blazer",
        "Minimo",
        "Skyfire",
        "Bolt",
        "Fennec",
        "Fluid",
        "iCab",
        "OmniWeb",
        "Camino",
        "Shiira",
        "Stainless",
        "Dillo",
        "Lynx",
        "ELinks",
        "NetSurf",
        "Arora",
        "rekonq",
        "Kazehakase",
        "Galeon",
        "K-Meleon",
        "Flock",
        "Netscape",
        "Conkeror",
        "luakit",
        "Beaker",
        "Ghostery",
        "Aloha",
        "Orion",
        "Wavebox",
        "Ecosia",
        "LibreWolf",
        "Floorp",
        "Basilisk",
        "Thorium",
        "Thunderbird",
        "Outlook-Android",
        "Flipboard",
        "Feedly",
        "Pocket",
        "Overcast",
        "Podcasts",
        "AntennaPod",
        "Castro",
        "VLC",
        "mpv",
        "Kodi",
        "Plex",
        "Roku",
        "TopBuzz",
        "Slack_SSB",
        "Discord",
        "Zoom",
        "Skype",
        "Viber",
        "Signal",
        "Telegram",
        "TikTok",
        "Zalo",
    ];

    const OS_NAMES: &[&str] = &[
        "Tizen",
        "KaiOS",
        "webOS",
        "Web0S",
        "Sailfish",
        "HarmonyOS",
        "BlackBerry",
        "BB10",
        "RIM Tablet OS",
        "Symbian",
        "SymbianOS",
        "Series40",
        "Series60",
        "Bada",
        "Firefox OS",
        "Fuchsia",
        "Ubuntu",
        "Kubuntu",
        "Debian",
        "Fedora",
        "CentOS",
        "Red Hat",
        "SUSE",
        "openSUSE",
        "Gentoo",
        "Arch Linux",
        "Slackware",
        "Linux Mint",
        "Mageia",
        "Mandriva",
        "PCLinuxOS",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "DragonFly",
        "Haiku",
        "BeOS",
        "AmigaOS",
        "MorphOS",
        "AROS",
        "SunOS",
        "Solaris",
        "AIX",
        "HP-UX",
        "IRIX",
        "QNX",
        "BREW",
        "Palm OS",
        "Maemo",
        "MeeGo",
        "LiteOS",
        "tvOS",
        "watchOS",
        "visionOS",
        "Orbis",
        "VIDAA",
        "Deepin",
        "UOS",
        "Kylin",
        "Raspbian",
        "Fire OS",
        "Wear OS",
        "LineageOS",
        "GrapheneOS",
        "OxygenOS",
        "ColorOS",
        "MIUI",
        "EMUI",
        "Flyme",
        "FuntouchOS",
        "One UI",
        "Puppy",
        "Lubuntu",
        "Xubuntu",
        "elementary OS",
        "Zorin OS",
        "Manjaro",
        "Alpine",
        "Void",
        "NixOS",
        "Solus",
        "ReactOS",
        "SerenityOS",
    ];

    /// Real handset brands with typical model-code prefixes (`|`-separated).
    const REAL_BRANDS: &[(&str, &str)] = &[
        ("Samsung", "SM-A|SM-G|SM-S|SM-T|SM-N|GT-I|GT-N"),
        ("Huawei", "ELE-L|VOG-L|ANE-LX|MAR-LX|JNY-LX"),
        ("Xiaomi", "M|MI |2201"),
        ("Redmi", "Redmi Note |Redmi "),
        ("OPPO", "CPH|PCHM|A"),
        ("vivo", "V|Y"),
        ("realme", "RMX"),
        ("OnePlus", "IN|KB|LE|NE"),
        ("Motorola", "moto g|XT|moto e"),
        ("Nokia", "TA-|Nokia "),
        ("LG", "LM-|LG-|VS"),
        ("Sony", "SO-|XQ-A|G"),
        ("HTC", "HTC_|HTC |ADR"),
        ("ZTE", "Blade A|Blade V|Z"),
        ("Lenovo", "TB-|Lenovo K|Lenovo A"),
        ("Asus", "ASUS_I|ASUS_X|ZenFone "),
        ("Acer", "A1-|B1-|Z"),
        ("Alcatel", "OT-|5"),
        ("TCL", "T|TCL "),
        ("Tecno", "KF|KE|CK|BE"),
        ("Infinix", "X"),
        ("itel", "L|A|W"),
        ("Meizu", "M|MX"),
        ("Honor", "HRY-LX|FNE-NX|ANY-LX"),
        ("Google", "Pixel "),
        ("BQ", "BQ-|BQ"),
        ("Doogee", "N|S|X"),
        ("Ulefone", "Armor |Note "),
        ("Oukitel", "WP|C|K"),
        ("Blackview", "BV|A"),
        ("Cubot", "KINGKONG |NOTE "),
        ("Wiko", "W-V|W-K"),
        ("Archos", "AC|Archos "),
        ("Prestigio", "PMT|PSP"),
        ("Micromax", "A|Q|E"),
        ("Lava", "LAVA |Z"),
        ("Karbonn", "A|K"),
        ("Intex", "AQUA |Cloud "),
        ("Gionee", "F|M|S"),
        ("Coolpad", "CP|Cool "),
        ("Sharp", "SH-|SHV|FS"),
        ("Kyocera", "KYV|E|C"),
        ("Fujitsu", "F-|FARTM"),
        ("Panasonic", "P|ELUGA "),
        ("Haier", "HM-|HW-"),
        ("Hisense", "HLTE|E|F"),
        ("Vodafone", "VFD |Smart "),
        ("Medion", "LIFETAB |X"),
        ("Teclast", "P|M|T"),
        ("Chuwi", "Hi|HiPad |CWI"),
        ("Allview", "X|V|P"),
        ("Positivo", "S|T|Twist "),
        ("Multilaser", "M|MS|ML"),
        ("Walton", "Primo |EF"),
        ("Symphony", "i|Z|V"),
        ("Nothing", "A"),
        ("Fairphone", "FP"),
        ("CAT", "S"),
        ("Blu", "G|C|V|BOLD "),
        ("Yezz", "ART|MAX"),
        ("Lanix", "Ilium |X"),
        ("Hyundai", "HT|E"),
        ("Kodak", "IM|Ektra "),
        ("Sky", "Elite |Platinum "),
        ("Tesla", "TTL|Smartphone "),
        ("Ergo", "B|F|V"),
        ("Energizer", "H|E|P"),
        ("Condor", "PGN|Allure "),
        ("Elephone", "P|A|U"),
        ("Umidigi", "A|F|Power "),
        ("Cherry", "Flare |Aqua "),
        ("MyPhone", "MyA|MyX"),
        ("QMobile", "i|Noir "),
        ("Vsmart", "Joy |Live |Active "),
        ("Bluboo", "S|D|X"),
        ("Leagoo", "M|T|Z"),
        ("HomTom", "HT|S"),
        ("Vertex", "Impress |Lion "),
        ("Irbis", "TZ|SP"),
        ("Digma", "CITI |LINX |PS"),
        ("Texet", "TM-"),
        ("Highscreen", "Power |Boost "),
        ("Fly", "IQ|FS"),
        ("DEXP", "Ixion |G"),
        ("Nomi", "i|C"),
    ];

    const SERIES: &[&str] = &[
        "Tab", "Pad", "Note", "Play", "Max", "Smart", "Power", "Star", "Neo", "Pro", "Vision",
        "Spark", "Pop", "Camon", "Hot", "Blade", "Liquid", "Iconia", "Aqua", "Canvas", "Desire",
        "Xperia", "Galaxy", "Nova", "Mate", "Zenfone", "Optimus", "Joy", "Spirit", "Fire", "One",
        "Prime", "Titan", "Vibe", "Sky", "Wave", "Flash", "Energy", "Volt", "Rock", "Style", "Fit",
        "Ace",
    ];

    /// Text a brand regex must not hit inside ordinary user agents.
    const UA_TEXT: &str = "mozilla/5.0 (linux; u; android 13; en-us) applewebkit/537.36 (khtml, like gecko) \
        version/4.0 chrome/120.0 mobile safari/537.36 windows nt 10.0; win64; x64 macintosh intel mac os x \
        iphone cpu os like gecko firefox rv edg opr wv build dalvik compatible http https www com org bot \
        spider crawler cfnetwork darwin tizen smart-tv smarttv playstation nintendo kaios hbbtv profile midp \
        configuration cldc samsungbrowser crios fxios trident msie wow64 ubuntu cros x11 gecko/20100101";

    struct URule {
        pattern: String,
        flags: &'static str,
        payload: Value,
    }

    fn rule(pattern: impl Into<String>, flags: &'static str, payload: Value) -> URule {
        URule {
            pattern: pattern.into(),
            flags,
            payload,
        }
    }

    /// An Android model string that some generated device rule matches when it
    /// appears as `; MODEL Build/...` (or `; MODEL)`).
    struct Model {
        model: String,
        android: Option<&'static str>,
        build: Option<String>,
    }

    #[derive(Default)]
    struct Samples {
        /// bot tokens matched by the giant alternations; `true` = must start the UA
        bots: Vec<(String, bool)>,
        /// product tokens (`Name/1.2.3`) matched by browser rules, appended to a browser UA
        products: Vec<String>,
        /// whole user agents built to hit one rule (CFNetwork apps, SDKs, feature phones)
        whole: Vec<String>,
        models: Vec<Model>,
        os_names: Vec<String>,
    }

    fn pct(r: &mut Rng, p: usize) -> bool {
        r.below(100) < p
    }
    fn between(r: &mut Rng, lo: usize, hi: usize) -> usize {
        lo + r.below(hi - lo + 1)
    }
    fn esc(s: &str) -> String {
        regex::escape(s)
    }
    fn cap(s: &str) -> String {
        let mut c = s.chars();
        match c.next() {
            Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
            None => String::new(),
        }
    }
    fn fill(t: &str, subs: &[(&str, &str)]) -> String {
        let mut s = t.to_string();
        for (k, v) in subs {
            s = s.replace(k, v);
        }
        s
    }
    fn shuffle<T>(r: &mut Rng, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = r.below(i + 1);
            v.swap(i, j);
        }
    }
    fn upper(r: &mut Rng) -> char {
        (b'A' + r.below(26) as u8) as char
    }
    fn digits(r: &mut Rng, n: usize) -> String {
        (0..n)
            .map(|i| (b'0' + if i == 0 { 1 + r.below(9) } else { r.below(10) } as u8) as char)
            .collect()
    }
    fn ver(r: &mut Rng, parts: usize) -> String {
        let mut v = (1 + r.below(30)).to_string();
        for _ in 1..parts {
            v += &format!(".{}", r.below(20));
        }
        v
    }
    fn bsyl(r: &mut Rng) -> &'static str {
        r.pick(BOT_SYL)
    }

    /// Hands out names: a shuffled pool of real ones first, then synthetic ones, never twice.
    struct Names {
        queue: Vec<String>,
        used: HashSet<String>,
        synth: fn(&mut Rng) -> String,
    }

    impl Names {
        fn new(r: &mut Rng, real: &[&str], synth: fn(&mut Rng) -> String) -> Names {
            let mut queue: Vec<String> = real.iter().map(|s| s.to_string()).collect();
            shuffle(r, &mut queue);
            Names {
                queue,
                used: HashSet::new(),
                synth,
            }
        }
        fn next(&mut self, r: &mut Rng) -> String {
            for tries in 0.. {
                let mut n = match self.queue.pop() {
                    Some(n) => n,
                    None => (self.synth)(r),
                };
                if tries >= 20 {
                    // the synthetic space is running out on huge lists: number it
                    n = format!("{n}{}", 2 + r.below(998));
                }
                if self.used.insert(n.to_ascii_lowercase()) {
                    return n;
                }
            }
            unreachable!()
        }
    }

    fn synth_bot(r: &mut Rng) -> String {
        let a = cap(bsyl(r));
        let b = bsyl(r);
        match r.below(12) {
            0 => format!("{a}{}Bot", cap(b)),
            1 => format!("{a}{b}bot"),
            2 => format!("{a}{}Spider", cap(b)),
            3 => format!("{a}{}-Crawler", cap(b)),
            4 => format!("{a}{} Crawler", cap(b)),
            5 => format!("{a}{b}_bot"),
            6 => format!("{a}{}-Fetcher", cap(b)),
            7 => format!("{a}{}Agent", cap(b)),
            8 => format!("{a}{}Scanner", cap(b)),
            9 => format!("{a}{} Robot", cap(b)),
            10 => format!("{}{a}bot", 10 + r.below(990)),
            _ => format!("{a}{}Archiver", cap(b)),
        }
    }

    fn synth_app(r: &mut Rng) -> String {
        let a = r.pick(APP_SYL);
        match r.below(6) {
            0 => format!("{a}{}", r.pick(APP_SUFFIX)),
            1 => format!("{a} {}", r.pick(APP_SUFFIX)),
            2 => format!("{a}{}", cap(r.pick(BOT_SYL))),
            3 => format!("{}{a}", r.pick(&["My", "Go", "i", "Smart", "Web", "Net"])),
            4 => format!("{a}-{}", r.pick(APP_SUFFIX)),
            _ => format!("{a}{}", 2 + r.below(8)),
        }
    }

    fn synth_os(r: &mut Rng) -> String {
        let a = r.pick(APP_SYL);
        match r.below(4) {
            0 => format!("{a}OS"),
            1 => format!("{a} OS"),
            2 => format!("{a} Linux"),
            _ => format!("{a}BSD"),
        }
    }

    const VOWELS: &[u8] = b"aeiou";
    const CONSONANTS: &[u8] = b"bcdfghjklmnprstvwxz";

    /// A synthetic handset brand, 2-6 letters.
    fn synth_brand(r: &mut Rng) -> String {
        let len = [2, 3, 3, 4, 4, 4, 5, 5, 6][r.below(9)];
        if len <= 3 {
            return (0..len).map(|_| upper(r)).collect();
        }
        let mut v = r.below(2) == 0;
        let s: String = (0..len)
            .map(|_| {
                v = !v;
                let set = if v { VOWELS } else { CONSONANTS };
                set[r.below(set.len())] as char
            })
            .collect();
        if r.below(3) == 0 {
            s.to_ascii_uppercase()
        } else {
            cap(&s)
        }
    }

    struct Brand {
        name: String,
        pfxs: Vec<String>,
        series: Vec<&'static str>,
    }

    impl Brand {
        /// `(?:Kivo|KIVO)` when not case-insensitive and the name has lower case.
        fn re(&self, ci: bool) -> String {
            let up = self.name.to_ascii_uppercase();
            if ci || up == self.name {
                esc(&self.name)
            } else {
                format!("(?:{}|{})", esc(&self.name), esc(&up))
            }
        }
        fn pfx(&self, r: &mut Rng) -> String {
            self.pfxs[r.below(self.pfxs.len())].clone()
        }
        fn series(&self, r: &mut Rng) -> &'static str {
            self.series[r.below(self.series.len())]
        }
    }

    /// A model code: prefix, 2-4 digits, maybe a letter or two.
    fn model_code(r: &mut Rng, pfx: &str) -> String {
        let nd = between(r, 2, 4);
        let mut m = format!("{pfx}{}", digits(r, nd));
        for _ in 0..[0, 0, 1, 1, 1, 2][r.below(6)] {
            m.push(upper(r));
        }
        m
    }

    /// `Brand CODE`, unless the code already starts with the brand (`Redmi Note 12`).
    fn with_brand(nm: &str, code: &str) -> String {
        if code
            .to_ascii_lowercase()
            .starts_with(&nm.to_ascii_lowercase())
        {
            code.to_string()
        } else {
            format!("{nm} {code}")
        }
    }

    fn alnum(s: &str) -> String {
        s.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
    }

    // ---------------------------------------------------------------- bots

    /// One branch of a giant bot alternation and a token it matches.
    fn bot_branch(r: &mut Rng, nm: &str) -> (String, String) {
        let a = cap(bsyl(r));
        match r.below(100) {
            0..=53 => (esc(nm), nm.to_string()),
            54..=60 => {
                let suf = r.pick(&["Agent", "Bot", "Crawler", "Fetcher"]);
                (
                    format!("{a}-[A-z]{{1,30}}-{suf}"),
                    format!("{a}-{}-{suf}", cap(bsyl(r))),
                )
            }
            61..=66 => {
                let sample = if pct(r, 50) {
                    format!("{}-{nm}", cap(bsyl(r)))
                } else {
                    format!("{nm}-Image")
                };
                (
                    format!("(?:[a-zA-Z]{{1,30}}-|){}(?:-[a-zA-Z]{{1,30}}|)", esc(nm)),
                    sample,
                )
            }
            67..=72 => {
                let b = r.pick(&["Bot", "Crawler", "Spider", "Indexer"]);
                if pct(r, 50) {
                    (
                        format!("{a} .{{0,30}} {b}"),
                        format!("{a} {} {b}", cap(bsyl(r))),
                    )
                } else {
                    let (al, bl) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
                    (
                        format!(r"{al}.{{0,30}}\.org_{bl}"),
                        format!("{al}.{}.org_{bl}", bsyl(r)),
                    )
                }
            }
            73..=78 => {
                let b = r.pick(&["Fetcher", "Crawler", "Checker", "Bot", "Monitor"]);
                (
                    format!("{a}[^/]{{0,30}}{b}"),
                    format!("{a} {} {b}", cap(bsyl(r))),
                )
            }
            79..=83 => (
                format!(r"\b{}(?:-[a-z]{{1,30}}|)", esc(nm)),
                format!("{nm}-{}", bsyl(r)),
            ),
            84..=88 => {
                // `[Bb]ai[Dd]u[Ss]pider`: a class for every upper-case letter (or the first)
                let has_upper = nm.chars().any(|c| c.is_ascii_uppercase());
                let mut re = String::new();
                let mut sample = String::new();
                for (i, c) in nm.chars().enumerate() {
                    if c.is_ascii_alphabetic() && (c.is_ascii_uppercase() || (!has_upper && i == 0))
                    {
                        let (u, l) = (c.to_ascii_uppercase(), c.to_ascii_lowercase());
                        re += &format!("[{u}{l}]");
                        sample.push(if pct(r, 50) { u } else { l });
                    } else {
                        re += &esc(&c.to_string());
                        sample.push(c);
                    }
                }
                (re, sample)
            }
            89..=92 => (format!(r"{}\b", esc(nm)), nm.to_string()),
            93..=96 => {
                let opt = r.pick(&[" bot", "-media", "-mobile", " Mobile"]);
                (
                    format!("{}(?:{opt} {{0,2}}|)", esc(nm)),
                    format!("{nm}{opt}"),
                )
            }
            _ => (format!("{a}[a-z]{{1,30}}Bot"), format!("{a}{}Bot", bsyl(r))),
        }
    }

    /// A giant alternation of `k` bot/product branches (not yet wrapped in a group).
    fn bot_alternation(
        r: &mut Rng,
        k: usize,
        names: &mut Names,
        s: &mut Samples,
        generic: bool,
    ) -> String {
        let fav = r.below(k);
        let anchored: Vec<usize> = (0..between(r, 2, 3)).map(|_| r.below(k)).collect();
        let mut branches = Vec::with_capacity(k);
        for i in 0..k {
            if i == fav {
                let kw = r.pick(&["favicon", "thumbnail", "preview", "feedfetch", "linkcheck"]);
                branches.push(format!(r"\b\w{{0,30}}{kw}\w{{0,30}}\b"));
                s.bots.push((format!("{}{kw}s", cap(bsyl(r))), false));
                continue;
            }
            if generic && pct(r, 12) {
                // short lower-case words, as in the real "spiders" catch-all
                let w = r.pick(&[
                    "bot",
                    "crawl",
                    "spider",
                    "slurp",
                    "scraper",
                    "indexer",
                    "archiver",
                    "fetcher",
                    "scanner",
                    "monitor",
                    "checker",
                    "harvest",
                    "validator",
                    "preview",
                ]);
                if !branches.iter().any(|b| b == w) {
                    branches.push(w.to_string());
                    continue;
                }
            }
            let nm = names.next(r);
            if anchored.contains(&i) {
                branches.push(format!("^{}", esc(&nm)));
                s.bots.push((nm, true));
                continue;
            }
            let (re, sample) = bot_branch(r, &nm);
            branches.push(re);
            s.bots.push((sample, false));
        }
        branches.join("|")
    }

    /// `^(1207|3gso|noki|sams|...)`-style 4-character feature-phone prefixes.
    fn prefix_alternation(r: &mut Rng, k: usize, brands: &[Brand], s: &mut Samples) -> String {
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        while items.len() < k {
            let (re, sample) = match r.below(50) {
                0..=19 => {
                    let b = brands[r.below(brands.len())].name.to_ascii_lowercase();
                    let b: String = b
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric())
                        .take(4)
                        .collect();
                    if b.len() < 4 {
                        let c = r.pick(&["-", "/", " ", "_"]);
                        (esc(&format!("{b}{c}")), format!("{b}{c}"))
                    } else {
                        (esc(&b), b)
                    }
                }
                20..=29 => {
                    let nd = 3 + r.below(2);
                    let d = digits(r, nd);
                    let d = if d.len() == 3 {
                        format!("{d}{}", r.pick(&["i", "s", "x"]))
                    } else {
                        d
                    };
                    (d.clone(), d)
                }
                30..=41 => {
                    let w: String = (0..4)
                        .map(|i| {
                            let set = if i % 2 == 0 { CONSONANTS } else { VOWELS };
                            set[r.below(set.len())] as char
                        })
                        .collect();
                    (w.clone(), w)
                }
                42 => {
                    let p: String = (0..2).map(|_| upper(r).to_ascii_lowercase()).collect();
                    if pct(r, 50) {
                        (format!("{p}(?:38|39|48|49|50|55|58|68)"), format!("{p}48"))
                    } else {
                        (format!(r"{p}[3456]\d{{2}}dual"), format!("{p}420dual"))
                    }
                }
                _ => {
                    let p: String = (0..3).map(|_| upper(r).to_ascii_lowercase()).collect();
                    (format!(r"{p}\-"), format!("{p}-"))
                }
            };
            if seen.insert(re.clone()) {
                items.push(re);
                s.whole.push(format!(
                    "{sample}{}/1.0 Profile/MIDP-2.0 Configuration/CLDC-1.1 UP.Browser/6.2.3.3.c.1.101 (GUI) MMP/2.0",
                    model_code(r, "X")
                ));
            }
        }
        format!("^({})", items.join("|"))
    }

    // ---------------------------------------------------------------- browser section

    fn browser_payload(family: &str) -> Value {
        json!({"section": "browser", "family": family})
    }

    /// One product rule for `name` and a sample token / whole UA it matches.
    fn product_rule(r: &mut Rng, name: &str, s: &mut Samples, sdk_style: bool) -> URule {
        let p = esc(name);
        let (a, b, c) = (1 + r.below(40), r.below(20), r.below(300));
        let t = if sdk_style {
            [3, 7, 12, 16, 16, 17, 10, 0][r.below(8)]
        } else {
            r.below(19)
        };
        let (pat, flags): (String, &'static str) = match t {
            0 => {
                s.products.push(format!("{name}/{a}.{b}.{c}"));
                (fill(r"(@P@)/(\d+)\.(\d+)(?:\.(\d+)|)", &[("@P@", &p)]), "")
            }
            1 => {
                s.products.push(format!("{name}/{a}"));
                (fill(r"(?:Mobile Safari).*(@P@)/(\d+)", &[("@P@", &p)]), "")
            }
            2 => {
                s.products.push(format!("{name} {a}"));
                (fill(r"(@P@)(?:/| )(\d+)", &[("@P@", &p)]), "")
            }
            3 => {
                s.products.push(format!("{name}/{a}.{b}.{c}"));
                (fill(r"(@P@)[ /](\d+)\.(\d+)\.(\d+)", &[("@P@", &p)]), "")
            }
            4 => {
                s.products.push(format!("{name}/{a}.{b}.{c}"));
                (
                    fill(
                        r"(?:Chrome).{1,300}(@P@)/(\d+)\.(\d+)\.(\d+)",
                        &[("@P@", &p)],
                    ),
                    "",
                )
            }
            5 => {
                s.products.push(format!("{name}/{a}.{b}"));
                (
                    fill(r"Mozilla.*Android.*(@P@)/(\d+)\.(\d+)", &[("@P@", &p)]),
                    "",
                )
            }
            6 => {
                s.products.push(format!("{name}Browser/{a}.{b}"));
                (
                    fill(r"(@P@)\s?(?:Browser|)/(\d+)\.(\d+)", &[("@P@", &p)]),
                    "",
                )
            }
            7 => {
                let (d, m) = (18 + r.below(6), r.below(7));
                s.whole.push(format!(
                    "{name}/{}{} CFNetwork/{}.0.{} Darwin/{d}.{m}.0",
                    a,
                    c,
                    1200 + 10 * d,
                    r.below(9)
                ));
                (
                    fill(
                        r"^(@P@)/(\d+)(?:\.(\d+)|)(?:\.(\d+)|)(?:\.(\d+)|) CFNetwork",
                        &[("@P@", &p)],
                    ),
                    "",
                )
            }
            8 => {
                s.products.push(format!("{name}/{a}"));
                (fill(r"\b(@P@)[ _-]?(?:Browser|)/(\d+)", &[("@P@", &p)]), "")
            }
            9 => {
                s.products.push(format!("{name} {a}.{b}"));
                (fill(r"(@P@) (\d+)\.(\d+)(?:\.(\d+)|)", &[("@P@", &p)]), "")
            }
            10 => {
                s.products
                    .push(format!("{name}/{a}.{b}.{c}.{}", r.below(99)));
                (
                    fill(r"(@P@)/(\d+)\.(\d+)\.(\d+)\.(\d+)", &[("@P@", &p)]),
                    "",
                )
            }
            11 => {
                s.products.push(format!("{name}/{a}.{b}"));
                (
                    fill(
                        r"AppleWebKit/\d+(?:\.\d+)+ \(KHTML, like Gecko\).{0,200}(@P@)/(\d+)\.(\d+)",
                        &[("@P@", &p)],
                    ),
                    "",
                )
            }
            12 => {
                let os = r.pick(&["Windows", "Android", "iOS"]);
                s.whole.push(format!("{name}-{os}-{a}.{b}.{c}"));
                (
                    fill(
                        r"(@P@)-(?:Windows|Android|iOS)-(\d+)\.(\d+)\.(\d+)",
                        &[("@P@", &p)],
                    ),
                    "",
                )
            }
            13 => {
                let (s1, s2) = (bsyl(r), alnum(&name.to_ascii_lowercase()));
                let kind = r.pick(&["phone", "tablet"]);
                s.products.push(format!("com.{s1}.{s2}.{kind}/{a}.{b}"));
                let re = format!(
                    r"com\.{s1}\.({})\.(?:phone|tablet)/(\d+)\.(\d+)(?:\.(\d+)|)",
                    esc(&s2)
                );
                (re, "")
            }
            14 => {
                s.products
                    .push(format!("{}/{a}.{b}", name.to_ascii_lowercase()));
                (fill(r"(@P@)[ /](\d+)\.(\d+)", &[("@P@", &p)]), "i")
            }
            15 => {
                s.products.push(format!("{name} HD/{a}.{b}"));
                (fill(r"(@P@)[^/]{0,30}/(\d+)\.(\d+)", &[("@P@", &p)]), "")
            }
            16 => {
                s.whole.push(format!(
                    "{name}/{a}.{b}.{c} ({}; {})",
                    r.pick(&["Linux", "Windows 10", "Darwin"]),
                    r.pick(&["x86_64", "arm64"])
                ));
                (fill(r"^(@P@)[/ ](\d+)\.(\d+)\.(\d+)", &[("@P@", &p)]), "")
            }
            17 => {
                s.whole.push(format!(
                    "{name}/{a}.{b} (Linux; Android {})",
                    8 + r.below(7)
                ));
                (
                    fill(r"(@P@)/(\d+)\.(\d+) \(.*(?:Android|iOS)", &[("@P@", &p)]),
                    "",
                )
            }
            _ => {
                s.whole.push(format!("{name} Client Using WinInet"));
                (format!("{p} Client Using WinInet"), "")
            }
        };
        rule(pat, flags, browser_payload(name))
    }

    fn browser_section(r: &mut Rng, count: usize, large: bool, s: &mut Samples) -> Vec<URule> {
        let mut apps = Names::new(r, REAL_APPS, synth_app);
        let mut bots = Names::new(r, REAL_BOTS, synth_bot);
        // head: special-case products, then the generic CFNetwork catchers
        let mut head = Vec::new();
        for _ in 0..(count * 5 / 100).max(3) {
            let name = apps.next(r);
            let p = esc(&name);
            head.push(match r.below(4) {
                0 => {
                    s.whole.push(format!("{name} Server {}", ver(r, 3)));
                    rule(
                        fill(
                            r"(@P@ Server) (\d+)(?:\.(\d+)(?:\.(\d+)|)|)",
                            &[("@P@", &p)],
                        ),
                        "",
                        browser_payload(&name),
                    )
                }
                1 => {
                    s.whole.push(format!(
                        "{name} {}.{}.b{}",
                        r.below(4),
                        r.below(9),
                        r.below(99)
                    ));
                    rule(
                        fill(r"(@P@)(?: (\d+)\.(\d+)\.([^ ]+)|)", &[("@P@", &p)]),
                        "",
                        browser_payload(&name),
                    )
                }
                _ => product_rule(r, &name, s, true),
            });
        }
        head.push(rule(
            r"^(.{0,200})-iPad\/(\d+)(?:\.(\d+)|)(?:\.(\d+)|)(?:\.(\d+)|) CFNetwork",
            "",
            browser_payload("$1"),
        ));
        head.push(rule(
            r"^(.{0,200})-iPhone/(\d+)(?:\.(\d+)|)(?:\.(\d+)|)(?:\.(\d+)|) CFNetwork",
            "",
            browser_payload("$1"),
        ));
        head.push(rule(
            r"^(.{0,200})/(\d+)(?:\.(\d+)|)(?:\.(\d+)|)(?:\.(\d+)|) CFNetwork",
            "",
            browser_payload("$1"),
        ));
        // the giant bot alternation, then the generic bot catchers
        let k = between(r, 150, 250);
        let alt = bot_alternation(r, k, &mut bots, s, false);
        head.push(rule(
            format!("({alt}){VERSION_TAIL}"),
            "",
            json!({"section": "browser", "family": "$1", "kind": "bot"}),
        ));
        let mid: Vec<String> = (0..between(r, 25, 40))
            .map(|_| esc(&bots.next(r)))
            .collect();
        head.push(rule(
            format!(r"\b({})/(\d+)(?:\.(\d+)|)(?:\.(\d+)|)", mid.join("|")),
            "",
            json!({"section": "browser", "family": "$1", "kind": "bot"}),
        ));
        head.push(rule(
            r"/((?:Ant-|)Nutch|[A-z]+[Bb]ot|[A-z]+[Ss]pider|[A-z]+[Cc]rawler|fetchurl)[ \-](\d+)(?:\.(\d+)|)(?:\.(\d+)|)",
            "",
            json!({"section": "browser", "family": "$1", "kind": "bot"}),
        ));
        head.push(rule(
            r"^.{0,200}?(?:/[A-Za-z0-9\.]{0,50}|) {0,2}([A-Za-z0-9 \-_\!\[\]:]{0,50}(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]{0,50}))[/ ](\d+)(?:\.(\d+)(?:\.(\d+)|)|)",
            "",
            json!({"section": "browser", "family": "$1", "kind": "bot"}),
        ));

        // the major browsers, late, as in the real list
        let majors: Vec<URule> = [
            (r"(Edg|Edge|EdgA|EdgiOS)/(\d+)(?:\.(\d+)|)(?:\.(\d+)|)(?:\.(\d+)|)", "Edge"),
            (r"(?:Mobile Safari).{1,300}(OPR)/(\d+)\.(\d+)\.(\d+)", "Opera Mobile"),
            (r"(?:Chrome).{1,300}(OPR)/(\d+)\.(\d+)\.(\d+)", "Opera"),
            (r"(SamsungBrowser)/(\d+)\.(\d+)", "Samsung Internet"),
            (r"(YaBrowser)/(\d+)\.(\d+)\.(\d+)", "Yandex Browser"),
            (r"(CriOS)/(\d+)(?:\.(\d+)|)(?:\.(\d+)|)(?:\.(\d+)|)", "Chrome Mobile iOS"),
            (r"(FxiOS)/(\d+)(?:\.(\d+)|)(?:\.(\d+)|)", "Firefox iOS"),
            (r"; wv\).{1,300}(Chrome)/(\d+)\.(\d+)\.(\d+)\.(\d+)", "Chrome Mobile WebView"),
            (r"(Chrome)/(\d+)\.(\d+)\.(\d+)\.(\d+) Mobile(?:[ /]|$)", "Chrome Mobile"),
            (r"(HeadlessChrome)(?:/(\d+)\.(\d+)\.(\d+)|)", "HeadlessChrome"),
            (r"(Chrome)/(\d+)\.(\d+)\.(\d+)\.(\d+)", "Chrome"),
            (r"(Chrome)/(\d+)\.(\d+)(?:\.(\d+)|)", "Chrome"),
            (r"(Firefox)/(\d+)\.(\d+)(?:\.(\d+)|$)", "Firefox"),
            (r"(Firefox)/(\d+)\.(\d+)(pre|[ab]\d+[a-z]*|)", "Firefox"),
            (r"(iPod|iPhone|iPad).{1,200}Version/(\d+)\.(\d+)(?:\.(\d+)|).{1,200}[ +]Safari", "Mobile Safari"),
            (r"(Version)/(\d+)\.(\d+)(?:\.(\d+)|).{0,100}Safari/", "Safari"),
            (r"(AppleWebKit)/(\d+)(?:\.(\d+)|)\+ .{0,200} Safari", "WebKit Nightly"),
            (r"(Safari)/\d+", "Safari"),
            (r"(Trident)/(7|8)\.(0)", "IE"),
            (r"([MS]?IE) (\d+)\.(\d+)", "IE"),
            (r"(python-requests)/(\d+)\.(\d+)", "Python Requests"),
            (r"\b(curl|Wget|wget2|libwww-perl|PycURL|aria2|Axel|lftp|HTTPie|axios|node-fetch|undici|got|okhttp|Go-http-client|Apache-HttpClient|Jersey|Faraday|GuzzleHttp|PostmanRuntime|insomnia|reqwest|hyper|ureq|Dart|RestSharp|WinHttp|urlgrabber|libcurl-agent)(?:[ /](\d+)(?:\.(\d+)|)(?:\.(\d+)|)|)", "$1"),
            (r"(Java)[/ ]?(\d+)\.(\d+)\.(\d+)", "Java"),
        ]
        .iter()
        .map(|(p, f)| rule(*p, "", browser_payload(f)))
        .collect();

        let body = count.saturating_sub(head.len() + majors.len());
        let block_a = body * 3 / 4;
        let mut out = head;
        for i in 0..block_a {
            if large && i == block_a / 2 {
                // a second giant alternation on big lists
                let k = between(r, 100, 200);
                let alt = bot_alternation(r, k, &mut bots, s, false);
                out.push(rule(
                    format!(r"\b({alt}){VERSION_TAIL}"),
                    "",
                    json!({"section": "browser", "family": "$1", "kind": "bot"}),
                ));
                continue;
            }
            let name = apps.next(r);
            out.push(product_rule(r, &name, s, false));
        }
        out.extend(majors);
        for _ in 0..body - block_a {
            let name = apps.next(r);
            out.push(product_rule(r, &name, s, true));
        }
        out.truncate(count);
        out
    }

    // ---------------------------------------------------------------- OS section

    fn os_payload(os: &str) -> Value {
        json!({"section": "os", "os": os})
    }

    fn os_section(r: &mut Rng, count: usize, s: &mut Samples) -> Vec<URule> {
        let fixed_head: &[(&str, &str)] = &[
            (r"HbbTV/\d+\.\d+\.\d+ \( ;(LG)E ;NetCast 4\.0", "webOS"),
            (
                r"HbbTV/\d+\.\d+\.\d+ \(;(Samsung);SmartTV([0-9]{4});.{0,200}T-[A-Z0-9]{4,8}DEUC",
                "Tizen",
            ),
            (
                r"HbbTV/1\.[1-5]\.1 \(; ?(Philips);.{0,200}NETTV/[3-9]",
                "Philips",
            ),
            (
                r"HbbTV/\d+\.\d+\.\d+ \(.{0,30}; ?([a-zA-Z]+) ?;.{0,30}(20[12][0-9]).{0,30}\)",
                "$1",
            ),
            (r"(Windows Phone) (?:OS[ /])?(\d+)\.(\d+)", "Windows Phone"),
            (
                r"(CPU[ +]OS|iPhone[ +]OS|CPU[ +]iPhone)[ +]+(\d+)[_\.](\d+)(?:[_\.](\d+)|).{0,100}Outlook-iOS-Android",
                "iOS",
            ),
            (
                r"(Android)[ \-/](\d+)(?:\.(\d+)|)(?:[.\-]([a-z0-9]+)|)",
                "Android",
            ),
            (
                r"(Android) (?:Donut|Eclair|Froyo|Gingerbread|Honeycomb)",
                "Android",
            ),
            (r"(Android) (\d+);", "Android"),
            (r"(Android): (\d+)(?:\.(\d+)(?:\.(\d+)|)|);", "Android"),
            (
                r"^UCWEB.{0,200}; (Adr) (\d+)\.(\d+)(?:[.\-]([a-z0-9]{1,100})|);",
                "Android",
            ),
            (
                r"^UCWEB.{0,200}; (iPad|iPh|iPd) OS (\d+)_(\d+)(?:_(\d+)|);",
                "iOS",
            ),
            (r"(Windows ?Mobile)", "Windows Mobile"),
            (r"(Windows 10)", "Windows"),
            (r"(Windows (?:NT 5\.2|NT 5\.1))", "Windows XP"),
            (r"(Windows NT 6\.1)", "Windows 7"),
            (r"(Win(?:dows NT |32NT\/)6\.0)", "Windows Vista"),
            (r"(Windows NT 6\.2; ARM;)", "Windows RT"),
            (r"(Win(?:dows NT |32NT\/)6\.2)", "Windows 8"),
            (r"(Windows NT 6\.3; ARM;)", "Windows RT 8.1"),
            (r"(Win(?:dows NT |32NT\/)6\.3)", "Windows 8.1"),
            (r"(Windows NT 10\.0)", "Windows"),
            (r"(Windows NT 5\.0)", "Windows 2000"),
            (r"(Windows ?CE)", "Windows CE"),
            (
                r"Win(?:dows)? ?(95|98|3\.1|NT|ME|2000|XP|Vista|7|CE)",
                "Windows",
            ),
            (r"(Tizen)[/ ](\d+)\.(\d+)", "Tizen"),
            (
                r"((?:Mac[ +]?|; )OS[ +]X)[\s+/](?:(\d+)[_.](\d+)(?:[_.](\d+)|)|Mach-O)",
                "Mac OS X",
            ),
            (r"Mac OS X\s.{1,50}\s(\d+)\.(\d+)\.(\d+)", "Mac OS X"),
            (r"(?:PPC|Intel) (Mac OS X)", "Mac OS X"),
            (r"(Apple\s?TV)(?:/(\d+)\.(\d+)|)", "ATV OS X"),
            (r"(CPU OS|iPhone OS) (\d+)_(\d+)(?:_(\d+)|)", "iOS"),
            (
                r"(CPU[ +]OS|iPhone[ +]OS|CPU[ +]iPhone|CPU IPhone OS|CPU iPad OS)[ +]+(\d+)[_\.](\d+)(?:[_\.](\d+)|)",
                "iOS",
            ),
            (r"(iPhone|iPad|iPod); Opera", "iOS"),
            (
                r"(iPhone|iPad|iPod).{0,100}Mac OS X.{0,100}Version/(\d+)\.(\d+)",
                "iOS",
            ),
        ];
        let fixed_tail: &[(&str, &str)] = &[
            (r"(CrOS) [a-z0-9_]+ (\d+)\.(\d+)(?:\.(\d+)|)", "Chrome OS"),
            (r"([Dd]ebian)", "Debian"),
            (r"(Linux Mint)(?:/(\d+)|)", "Linux Mint"),
            (
                r"(Fedora|Red Hat|PCLinuxOS|Puppy|Ubuntu|Kindle|Bada|Sailfish|Lubuntu|BackTrack|Slackware|(?:Free|Open|Net|\b)BSD)[/ ](\d+)\.(\d+)(?:\.(\d+)|)(?:\.(\d+)|)",
                "$1",
            ),
            (
                r"(Linux)[ /](\d+)\.(\d+)(?:\.(\d+)|).{0,100}gentoo",
                "Gentoo",
            ),
            (r"\((Bada);", "Bada"),
            (r"(Windows|Android|WeTab|Maemo|Web0S)", "$1"),
            (
                r"(Ubuntu|Kubuntu|Arch Linux|CentOS|Slackware|Gentoo|openSUSE|SUSE|Red Hat|Fedora|PCLinuxOS|Mageia|SerenityOS|(?:Free|Open|Net|\b)BSD)",
                "$1",
            ),
            (r"(Linux)(?:[ /](\d+)\.(\d+)(?:\.(\d+)|)|)", "Linux"),
            (r"SunOS", "Solaris"),
        ];
        let mut out: Vec<URule> = fixed_head
            .iter()
            .map(|(p, o)| rule(*p, "", os_payload(o)))
            .collect();
        let tail: Vec<URule> = fixed_tail
            .iter()
            .map(|(p, o)| rule(*p, "", os_payload(o)))
            .collect();
        let body = count.saturating_sub(out.len() + tail.len());
        // the CFNetwork/Darwin ladder (~40%), a long run of near-identical `.{0,100}` gap rules
        let ladder = body * 2 / 5;
        let mut made = 0;
        'ladder: for d in 9..=24usize {
            let cf = match d {
                9 | 10 => "4",
                11 => "5",
                12 | 13 => "6",
                14 | 15 => "7",
                16 | 17 => "8",
                18 => "9",
                19 => "1[01]",
                _ => ["12", "13", "14", "14", "15", "16"][d - 20],
            };
            let minors = between(r, 2, 7);
            for m in 0..=minors {
                if made == ladder {
                    break 'ladder;
                }
                let pat = match r.below(4) {
                    0 => format!(
                        r"CFNetwork/{cf}.{{0,100}} Darwin/{d}\.{m}\.\d+.{{0,100}}\(x86_64\)"
                    ),
                    1 => format!(r"(CF)(Network)/{cf}\d{{2}}\.({m})"),
                    _ => format!(r"CFNetwork/{cf}.{{0,100}} Darwin/{d}\.{m}\.\d+"),
                };
                out.push(rule(pat, "", json!({"section": "os", "os": "iOS", "os_v1": (d - 6).to_string(), "os_v2": m.to_string()})));
                made += 1;
            }
            if made < ladder {
                out.push(rule(
                    format!(r"CFNetwork/.{{0,100}} Darwin/({d})\.\d+"),
                    "",
                    json!({"section": "os", "os": "iOS", "os_v1": (d - 6).to_string()}),
                ));
                made += 1;
            }
        }
        // named OSes with versions, some with gaps
        let mut names = Names::new(r, OS_NAMES, synth_os);
        while out.len() < count.saturating_sub(tail.len()) {
            let name = names.next(r);
            let p = esc(&name);
            let (a, b) = (1 + r.below(15), r.below(10));
            let (pat, sample, flags) = match r.below(8) {
                0 => (
                    r"(@P@)[/ ](\d+)\.(\d+)(?:\.(\d+)|)".to_string(),
                    format!("{name} {a}.{b}"),
                    "",
                ),
                1 => (
                    r"(@P@) (\d+)(?:\.(\d+)|);".to_string(),
                    format!("{name} {a};"),
                    "",
                ),
                2 => (
                    r"\b(@P@)\b.{0,30}?(\d+)\.(\d+)".to_string(),
                    format!("{name}; U; {a}.{b}"),
                    "",
                ),
                3 => (
                    r"(@P@)(?:[ /]?OS|)[ /](\d+)[_.](\d+)".to_string(),
                    format!("{name}/{a}_{b}"),
                    "",
                ),
                4 => {
                    let n = between(r, 20, 200);
                    (
                        format!(
                            r"(?:@P@)[ _-]?(?:OS|)/(\d+)\.(\d+)(?:\.(\d+)|).{{0,{n}}}(?:Mobile|TV)"
                        ),
                        format!("{name}/{a}.{b} Mobile"),
                        "",
                    )
                }
                5 => (r"^(@P@)/(\d+)".to_string(), format!("{name}/{a}"), ""),
                6 => (
                    r"(@P@)[ _](\d+)(?:[._](\d+)|)(?:[._](\d+)|)".to_string(),
                    format!("{name} {a}.{b}"),
                    "i",
                ),
                _ => (
                    r"\((?:[^;)]*; )*?(@P@)(?: (\d+)(?:\.(\d+)|)|)[;)]".to_string(),
                    format!("({name} {a}.{b};"),
                    "",
                ),
            };
            s.os_names.push(sample);
            out.push(rule(fill(&pat, &[("@P@", &p)]), flags, os_payload(&name)));
        }
        out.extend(tail);
        out.truncate(count);
        out
    }

    // ---------------------------------------------------------------- device section

    fn device_payload(brand: &str, model: &str) -> Value {
        json!({"section": "device", "brand": brand, "model": model})
    }

    fn android_model(s: &mut Samples, model: String) {
        s.models.push(Model {
            model,
            android: None,
            build: None,
        });
    }

    /// One brand/model rule; pushes samples it matches.
    fn brand_rule(r: &mut Rng, b: &Brand, s: &mut Samples) -> URule {
        let nm = &b.name;
        let long = nm.len() >= 3;
        let t = loop {
            let t = [
                0, 0, 1, 1, 1, 2, 2, 3, 4, 4, 4, 5, 5, 6, 7, 8, 9, 9, 10, 11, 12, 13, 14, 14, 15,
            ][r.below(25)];
            if long || !matches!(t, 2 | 3 | 13) {
                break t;
            }
        };
        let ci: &'static str = if pct(r, 55) { "i" } else { "" };
        let pfx = b.pfx(r);
        let code = model_code(r, &pfx);
        let p = esc(&pfx);
        match t {
            0 => {
                let sep = r.pick(&["", " ", "_", "-"]);
                android_model(s, format!("{nm}{sep}{}", alnum(&code)));
                rule(
                    fill(
                        r"; *(@B@[ _-]?[A-Z0-9]+)(?: Build|\) AppleWebKit)",
                        &[("@B@", &b.re(true))],
                    ),
                    "i",
                    device_payload(nm, "$1"),
                )
            }
            1 => {
                let m = if pct(r, 50) {
                    with_brand(nm, &code)
                } else {
                    code.clone()
                };
                android_model(s, m);
                rule(
                    fill(
                        r"; *(?:@B@ )?(@P@\d+[^;/]*) Build/",
                        &[("@B@", &b.re(ci == "i")), ("@P@", &p)],
                    ),
                    ci,
                    device_payload(nm, "$1"),
                )
            }
            2 => {
                android_model(s, format!("{nm} {} {}", b.series(r), 1 + r.below(20)));
                rule(
                    fill(
                        r"(?:@B@)[ _-]?([^;/]+?)(?: Build|\))",
                        &[("@B@", &b.re(true))],
                    ),
                    "i",
                    device_payload(nm, "$1"),
                )
            }
            3 => {
                android_model(s, format!("{nm} {}", alnum(&code)));
                rule(
                    fill(r"\b@B@[ _]?(\w+)", &[("@B@", &b.re(true))]),
                    "i",
                    device_payload(nm, "$1"),
                )
            }
            4 => {
                android_model(s, format!("{nm} {} {}", b.series(r), code));
                rule(
                    fill(
                        r"; {0,2}(@B@)[ _]([^;/]{1,100}?)(?: Build|\) AppleWebKit)",
                        &[("@B@", &b.re(ci == "i"))],
                    ),
                    ci,
                    device_payload(nm, "$2"),
                )
            }
            5 => {
                // a list of model codes, some with classes
                let k = between(r, 5, 40);
                let mut items: Vec<String> = Vec::with_capacity(k);
                for _ in 0..k {
                    let pfx = b.pfx(r);
                    let p = esc(&pfx);
                    match r.below(20) {
                        0..=13 => {
                            let c = model_code(r, &pfx);
                            items.push(esc(&c));
                            if pct(r, 30) {
                                android_model(s, c);
                            }
                        }
                        14..=16 => {
                            let it = format!(r"{p}\d{{3}}[A-Z]?");
                            if items.contains(&it) {
                                continue;
                            }
                            items.push(it);
                            android_model(s, format!("{pfx}{}", digits(r, 3)));
                        }
                        17..=18 => {
                            let it = format!("{p}[0-9]{{2}}[A-z]?");
                            if items.contains(&it) {
                                continue;
                            }
                            items.push(it);
                            android_model(s, format!("{pfx}{}a", digits(r, 2)));
                        }
                        _ => {
                            let ser = b.series(r);
                            items.push(format!("{}[^;/]{{0,30}}", esc(ser)));
                            android_model(s, format!("{ser} {}", 1 + r.below(9)));
                        }
                    }
                }
                rule(
                    format!(r"; {{0,2}}({})(?: Build|\) AppleWebKit)", items.join("|")),
                    "",
                    device_payload(nm, "$1"),
                )
            }
            6 => {
                let w: Vec<&str> = (0..between(r, 2, 4)).map(|_| b.series(r)).collect();
                android_model(
                    s,
                    format!("{nm} {} {}.{}", w[0], 7 + r.below(6), r.below(2)),
                );
                rule(
                    fill(
                        r"; *(@B@)[ _-]?((?:@W@)(?: ?(\d+)(?:\.(\d+)|)|)[^;/]*?)(?: Build|\))",
                        &[("@B@", &b.re(true)), ("@W@", &w.join("|"))],
                    ),
                    "i",
                    device_payload(nm, "$2"),
                )
            }
            7 => {
                android_model(s, with_brand(nm, &code));
                let up = nm.to_ascii_uppercase();
                rule(
                    fill(
                        r"; {0,2}((?:@B@|@U@)[ _\-]?)([^;/]{1,100}) Build",
                        &[("@B@", &esc(nm)), ("@U@", &esc(&up))],
                    ),
                    "",
                    device_payload(nm, "$2"),
                )
            }
            8 => {
                let c = alnum(&code);
                s.models.push(Model {
                    model: code.clone(),
                    android: None,
                    build: Some(format!("{nm}_{c}")),
                });
                rule(
                    fill(r"Build/(?:@B@)+_?([^;/_\)]+)", &[("@B@", &esc(nm))]),
                    "",
                    device_payload(nm, "$1"),
                )
            }
            9 => {
                let m = match r.below(3) {
                    0 => nm.to_string(),
                    1 => format!("{nm} {}{}", upper(r), digits(r, 2)),
                    _ => format!(
                        "{nm} {}{} {}",
                        upper(r),
                        digits(r, 2),
                        r.pick(&["Pro", "Plus", "Max", "Lite", "Mini"])
                    ),
                };
                android_model(s, m);
                rule(
                    fill(
                        r"; *(@B@)(?:[ _-]([A-Z]?\d+[A-Z]*)(?:[ _-](Pro|Plus|Max|Lite|Mini)|)|) Build",
                        &[("@B@", &b.re(true))],
                    ),
                    "i",
                    device_payload(nm, "$2"),
                )
            }
            10 => {
                let ser = b.series(r);
                s.models.push(Model {
                    model: format!("{pfx}{}", digits(r, 3)),
                    android: Some("4.4.2"),
                    build: None,
                });
                rule(
                    fill(
                        r"Android [34].{0,200}; {0,2}(@P@\d{3}[A-Z]?|@P@\d{2}[A-Z]{1,2}|@S@(?: Lite| 3G|))(?: Build|\) AppleWebKit)",
                        &[("@P@", &p), ("@S@", &esc(ser))],
                    ),
                    "",
                    device_payload(nm, "$1"),
                )
            }
            11 => {
                let m = format!("{}{}", digits(r, 4), upper(r));
                android_model(s, if pct(r, 50) { format!("{nm} {m}") } else { m });
                rule(
                    fill(
                        r"; *(?:@B@[ _]?)?(\d{3,4}[A-Z]{1,2})(?: Build|;)",
                        &[("@B@", &b.re(ci == "i"))],
                    ),
                    ci,
                    device_payload(nm, "$1"),
                )
            }
            12 => {
                s.whole.push(format!("{nm}-{}/1.0 Profile/MIDP-2.0 Configuration/CLDC-1.1 UP.Browser/6.2.3.3.c.1.101 (GUI) MMP/2.0", alnum(&code)));
                let up = nm.to_ascii_uppercase();
                rule(
                    fill(
                        r"^(?:@B@|@U@)[-_ ]?([A-Za-z0-9\-]+)/(\d+)\.(\d+)",
                        &[("@B@", &esc(nm)), ("@U@", &esc(&up))],
                    ),
                    ci,
                    device_payload(nm, "$1"),
                )
            }
            13 => {
                android_model(s, with_brand(nm, &code));
                rule(
                    fill(
                        r"(@B@)[ _-]?(@P@\d+[A-Z]?)",
                        &[("@B@", &b.re(true)), ("@P@", &p)],
                    ),
                    "i",
                    device_payload(nm, "$2"),
                )
            }
            14 => {
                // single-letter prefixes stay case-sensitive, or `; x64)` in every Windows UA matches
                let ci = if pfx.len() < 2 { "" } else { ci };
                let tail = r.pick(&["", "", "(4G)", "(LTE)"]);
                let nd = between(r, 2, 4);
                let d = digits(r, nd);
                let l = if pct(r, 50) {
                    upper(r).to_string()
                } else {
                    String::new()
                };
                android_model(s, format!("{pfx}{d}{l}{tail}"));
                rule(
                    fill(
                        r"; {0,2}(?:@B@ )?(@P@[A-Z]?\d{2,4}(?:[A-Z]{1,2}|)(?:\((?:3G|4G|LTE)\)|))(?: Build|\))",
                        &[("@B@", &b.re(ci == "i")), ("@P@", &p)],
                    ),
                    ci,
                    device_payload(nm, "$1"),
                )
            }
            _ => {
                let ser = b.series(r);
                android_model(s, format!("{nm} {ser} {}", alnum(&code)));
                rule(
                    fill(
                        r"; {0,2}@B@ (@S@[^;/]{0,30}?)(?: Build|\) AppleWebKit)",
                        &[("@B@", &esc(nm)), ("@S@", &esc(ser))],
                    ),
                    "",
                    device_payload(nm, "$1"),
                )
            }
        }
    }

    fn make_brands(r: &mut Rng, n: usize) -> Vec<Brand> {
        let mut brands: Vec<Brand> = Vec::new();
        let mut seen = HashSet::new();
        let mut real: Vec<&(&str, &str)> = REAL_BRANDS.iter().collect();
        shuffle(r, &mut real);
        let mut real = real.into_iter();
        while brands.len() < n {
            let (name, pfxs) = match real.next() {
                Some((name, p)) => (
                    name.to_string(),
                    p.split('|').map(str::to_string).collect::<Vec<_>>(),
                ),
                None => {
                    let name = synth_brand(r);
                    if UA_TEXT.contains(&name.to_ascii_lowercase()) {
                        continue;
                    }
                    let up: String = name.to_ascii_uppercase();
                    let mut pfxs =
                        vec![up[..1].to_string(), format!("{}-", &up[..2.min(up.len())])];
                    if pct(r, 50) {
                        pfxs.push(format!("{}{}", &up[..1], upper(r)));
                    }
                    (name, pfxs)
                }
            };
            if !seen.insert(name.to_ascii_lowercase()) {
                continue;
            }
            let series = (0..between(r, 1, 3)).map(|_| r.pick(SERIES)).collect();
            brands.push(Brand { name, pfxs, series });
        }
        brands
    }

    fn device_section(r: &mut Rng, count: usize, s: &mut Samples) -> Vec<URule> {
        let spider = json!({"section": "device", "brand": "Spider", "model": "Smartphone"});
        let mut out = vec![
            rule(
                r"^.{0,100}?(?:(?:iPhone|Windows CE|Windows Phone|Android).{0,300}(?:(?:Bot|Yeti)-Mobile|YRSpider|BingPreview|bots?/\d|(?:bot|spider)\.html)|AdsBot-Google-Mobile.{0,200}iPhone)",
                "i",
                spider.clone(),
            ),
            rule(
                r"^.{0,100}?(?:DoCoMo|\bMOT\b|\bLG\b|Nokia|Samsung|SonyEricsson).{0,200}(?:(?:Bot|Yeti)-Mobile|bots?/\d|(?:bot|crawler)\.html|(?:jump|google|Wukong)bot|ichiro/mobile|/spider|YahooSeeker)",
                "i",
                spider.clone(),
            ),
            rule(r" PTST/\d+(?:\.\d+|)$", "", spider.clone()),
            rule(
                r"Mozilla.{1,100}Mobile.{1,100}(AspiegelBot|PetalBot)",
                "",
                spider.clone(),
            ),
            rule(r"Mozilla.{0,200}(AspiegelBot|PetalBot)", "", spider.clone()),
            rule(
                r"\bSmartWatch {0,2}\( {0,2}([^;]{1,200}) {0,2}; {0,2}([^;]{1,200}) {0,2};",
                "",
                device_payload("$1", "$2"),
            ),
            rule(
                r"Android Application[^\-]{1,300} - (?:HTC|HUAWEI|LGE|LENOVO|MEDION|TCT) (HTC|HUAWEI|LG|LENOVO|MEDION|ALCATEL)[ _\-](.{1,200}) \w{1,20} - ",
                "i",
                device_payload("$1", "$2"),
            ),
        ];
        let brands = make_brands(r, (count / 3).max(8));
        let generic = json!({"section": "device", "brand": "Generic", "model": "Smartphone"});
        let mut tail = vec![
            rule(
                r"(iPhone|iPad|iPod)(\d+,\d+)",
                "",
                device_payload("Apple", "$1$2"),
            ),
            rule(
                r"(iPad)(?:;| Simulator;)",
                "",
                device_payload("Apple", "iPad"),
            ),
            rule(
                r"(iPod)(?:;| touch;| Simulator;)",
                "",
                device_payload("Apple", "iPod"),
            ),
            rule(
                r"(iPhone)(?:;| Simulator;)",
                "",
                device_payload("Apple", "iPhone"),
            ),
            rule(r"(Watch)(\d+,\d+)", "", device_payload("Apple", "$1$2")),
            rule(
                r"Android[\- ][\d]+\.[\d]+\-update1; [A-Za-z]{2}\-[A-Za-z]{0,2} {0,2}; {0,2}(.{1,200}?)( Build[/ ]|\))",
                "",
                device_payload("Generic", "$1"),
            ),
            rule(
                r"Android[\- ][\d]+(?:\.[\d]+)(?:\.[\d]+|); {0,3}\-?[A-Za-z]{2}; {0,2}(.{1,50}?)( Build[/ ]|\))",
                "",
                device_payload("Generic", "$1"),
            ),
            rule(
                r"Android[- ][\d]+\.[\d]+; [^;]+; ([^;/]+) Build",
                "",
                device_payload("Generic", "$1"),
            ),
            rule(
                r"Android \d+?(?:\.\d+|)(?:\.\d+|); ([^;]+?)(?: Build|\) AppleWebKit).+? Mobile Safari",
                "",
                device_payload("Generic", "$1"),
            ),
            rule(
                r"Android \d+?(?:\.\d+|)(?:\.\d+|); ([^;]+?)(?: Build|\) AppleWebKit).+? Safari",
                "",
                device_payload("Generic_Android_Tablet", "$1"),
            ),
            rule(
                r"Android \d+?(?:\.\d+|)(?:\.\d+|); ([^;]+?)(?: Build|\))",
                "",
                device_payload("Generic", "$1"),
            ),
            rule(r"(GoogleTV)", "", device_payload("Generic", "GoogleTV")),
            rule(
                r"(WebTV)/(\d+)\.(\d+)",
                "",
                device_payload("Generic", "WebTV"),
            ),
            rule(
                r"(hiptop|avantgo|plucker|xiino|blazer|elaine)",
                "i",
                generic.clone(),
            ),
        ];
        let k = between(r, 100, 200);
        let mut names = Names::new(r, REAL_BOTS, synth_bot);
        let alt = bot_alternation(r, k, &mut names, s, true);
        tail.push(rule(
            format!("^.{{0,100}}({alt}){VERSION_TAIL}"),
            "i",
            json!({"section": "device", "brand": "Spider", "model": "Desktop"}),
        ));
        let k = between(r, 100, 180);
        tail.push(rule(r"(?i)\b(bot|crawler|spider)\b", "", spider.clone()));
        tail.push(rule(
            prefix_alternation(r, k, &brands, s),
            "i",
            json!({"section": "device", "brand": "Generic", "model": "Feature Phone"}),
        ));
        tail.push(rule(
            r"(wap[\- ]browser|maui|netfront|obigo|teleca|up\.browser|midp|Opera Mini)",
            "i",
            json!({"section": "device", "brand": "Generic", "model": "Feature Phone"}),
        ));
        tail.push(rule(
            r"^(Ice)$",
            "",
            json!({"section": "device", "brand": "Generic", "model": "Feature Phone"}),
        ));
        tail.push(rule(r"Mac OS", "", device_payload("Apple", "Mac")));

        let body = count.saturating_sub(out.len() + tail.len());
        let mut made = 0;
        'brands: for b in brands.iter().cycle() {
            let k = [1, 2, 2, 3, 3, 3, 4, 4, 5, 6, 8][r.below(11)];
            for _ in 0..k {
                if made == body {
                    break 'brands;
                }
                out.push(brand_rule(r, b, s));
                made += 1;
            }
        }
        out.extend(tail);
        out.truncate(count);
        out
    }

    // ---------------------------------------------------------------- inputs

    const ANDROID_VERSIONS: &[&str] = &[
        "8.0.0", "8.1.0", "9", "10", "11", "12", "13", "13", "14", "14", "7.0", "6.0.1", "5.1.1",
    ];
    const BUILD_IDS: &[&str] = &[
        "TP1A.220624.014",
        "RKQ1.200826.002",
        "QP1A.190711.020",
        "SP1A.210812.016",
        "UP1A.231005.007",
        "PPR1.180610.011",
        "TKQ1.221114.001",
        "SKQ1.211006.001",
        "RP1A.200720.012",
        "UKQ1.230804.001",
        "NRD90M",
        "MMB29M",
        "LMY47V",
        "O11019",
        "HUAWEIELE-L29",
        "QKQ1.191014.001",
    ];
    const NON_ASCII_MODELS: &[&str] = &[
        "华为畅享 10 Plus",
        "荣耀V20",
        "小米 11 Ultra",
        "红米Note 9",
        "中兴 Blade V30",
        "ギャラクシー S9",
        "Смартфон BQ 5520",
        "Téléphone X2",
        "Móvil Nova 5",
        "Çelik Pro 3",
        "아이폰 미니",
        "Điện thoại A5",
    ];

    fn chrome_ver(r: &mut Rng) -> String {
        format!(
            "{}.0.{}.{}",
            100 + r.below(25),
            4000 + r.below(2500),
            r.below(250)
        )
    }

    fn android_ua(r: &mut Rng, model: &str, android: Option<&str>, build: Option<&str>) -> String {
        let av = android.unwrap_or_else(|| r.pick(ANDROID_VERSIONS));
        let bid = build.map_or_else(|| r.pick(BUILD_IDS).to_string(), str::to_string);
        let cv = chrome_ver(r);
        let dev = if build.is_some() || pct(r, 70) {
            format!("{model} Build/{bid}")
        } else {
            model.to_string()
        };
        match r.below(10) {
            0 => format!("Mozilla/5.0 (Linux; Android {av}; {dev}; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/{cv} Mobile Safari/537.36"),
            1 => format!("Mozilla/5.0 (Linux; Android {av}; {dev}) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/{}.0 Chrome/{cv} Mobile Safari/537.36", 15 + r.below(10)),
            2 => format!("Mozilla/5.0 (Linux; U; Android {}; en-us; {dev}) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30", r.pick(&["4.4.2", "4.2.2", "4.1.1", "4.0.4", "2.3.6"])),
            3 => format!("Mozilla/5.0 (Linux; Android {av}; {dev}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{cv} Safari/537.36"),
            4 => format!("Dalvik/2.1.0 (Linux; U; Android {av}; {dev})"),
            _ => format!("Mozilla/5.0 (Linux; Android {av}; {dev}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{cv} Mobile Safari/537.36"),
        }
    }

    fn desktop_ua(r: &mut Rng) -> String {
        let cv = chrome_ver(r);
        let fv = 100 + r.below(25);
        let win = r.pick(&[
            "Windows NT 10.0; Win64; x64",
            "Windows NT 10.0; Win64; x64",
            "Windows NT 6.1; Win64; x64",
            "Windows NT 6.3; WOW64",
            "Windows NT 6.1",
        ]);
        let mac = r.pick(&[
            "Macintosh; Intel Mac OS X 10_15_7",
            "Macintosh; Intel Mac OS X 10_14_6",
            "Macintosh; Intel Mac OS X 13_5_2",
        ]);
        match r.below(12) {
            0..=2 => format!("Mozilla/5.0 ({win}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{cv} Safari/537.36"),
            3 => format!("Mozilla/5.0 ({win}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{cv} Safari/537.36 Edg/{}", chrome_ver(r)),
            4 => format!("Mozilla/5.0 ({win}; rv:{fv}.0) Gecko/20100101 Firefox/{fv}.0"),
            5 => format!("Mozilla/5.0 ({mac}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{}.{} Safari/605.1.15", 14 + r.below(4), r.below(6)),
            6 => format!("Mozilla/5.0 ({mac}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{cv} Safari/537.36"),
            7 => format!("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{fv}.0) Gecko/20100101 Firefox/{fv}.0"),
            8 => format!("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{cv} Safari/537.36"),
            9 => format!("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:{fv}.0) Gecko/20100101 Firefox/{fv}.0"),
            10 => format!("Mozilla/5.0 (X11; CrOS x86_64 {}.{}.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{cv} Safari/537.36", 14000 + r.below(2000), r.below(99)),
            _ => format!("Mozilla/5.0 ({win}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{cv} Safari/537.36 OPR/{}.0.{}.{}", 90 + r.below(15), 4000 + r.below(999), r.below(99)),
        }
    }

    fn ios_ua(r: &mut Rng) -> String {
        let (a, b) = (12 + r.below(6), r.below(7));
        let dev = if pct(r, 80) {
            format!("iPhone; CPU iPhone OS {a}_{b} like Mac OS X")
        } else {
            format!("iPad; CPU OS {a}_{b} like Mac OS X")
        };
        match r.below(6) {
            0 => format!("Mozilla/5.0 ({dev}) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/{} Mobile/15E148 Safari/604.1", chrome_ver(r)),
            1 => format!("Mozilla/5.0 ({dev}) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/{}.0 Mobile/15E148 Safari/605.1.15", 100 + r.below(25)),
            2 => format!("Mozilla/5.0 ({dev}) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/{}.0.0.{}.{}]", 400 + r.below(60), r.below(99), r.below(99)),
            _ => format!("Mozilla/5.0 ({dev}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{a}.{b} Mobile/15E148 Safari/604.1"),
        }
    }

    fn bot_ua(r: &mut Rng, s: &Samples) -> String {
        let (tok, anchored) = &s.bots[r.below(s.bots.len())];
        let v = ver(r, 2);
        let host = format!("www.{}{}.com", bsyl(r), bsyl(r));
        if *anchored {
            return format!("{tok}/{v} (+https://{host}/bot)");
        }
        match r.below(5) {
            0 => format!("{tok}/{v} (+http://{host}/bot.html)"),
            1 => format!(
                "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{} Mobile Safari/537.36 (compatible; {tok}/{v}; +http://{host}/bot.html)",
                chrome_ver(r)
            ),
            _ => format!("Mozilla/5.0 (compatible; {tok}/{v}; +http://{host}/bot.html)"),
        }
    }

    fn other_ua(r: &mut Rng, s: &Samples) -> String {
        match r.below(12) {
            0 => format!("Mozilla/5.0 (SMART-TV; Linux; Tizen {}.0) AppleWebKit/538.1 (KHTML, like Gecko) Version/{}.0 TV Safari/538.1", 4 + r.below(4), 4 + r.below(4)),
            1 => format!("HbbTV/1.5.1 (+DRM;Samsung;SmartTV{}:UAU7000;T-KSU2EDEUC-1500.3;KantM2;) Tizen/6.0 (+TVPLUS+SmartHubLink) Chrome/76", 2016 + r.below(8)),
            2 => format!("Mozilla/5.0 (PlayStation; PlayStation 5/{}.{}) AppleWebKit/605.1.15 (KHTML, like Gecko)", 2 + r.below(6), r.below(50)),
            3 => format!("Roku/DVP-{}.0 ({}.0.0.{})", 9 + r.below(4), 9 + r.below(4), 4000 + r.below(999)),
            4 => "Mozilla/5.0 (Nintendo Switch; WifiWebAuthApplet) AppleWebKit/606.4 (KHTML, like Gecko) NF/6.0.1.15.4 NintendoBrowser/5.1.0.20393".to_string(),
            5 => "Mozilla/5.0 (Mobile; Windows Phone 8.1; Android 4.0; ARM; Trident/7.0; Touch; rv:11.0; IEMobile/11.0; NOKIA; Lumia 920) like iPhone OS 7_0_3 Mac OS X AppleWebKit/537 (KHTML, like Gecko) Mobile Safari/537".to_string(),
            6 => format!("Mozilla/5.0 (Mobile; Nokia_8110_4G; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.{}", r.below(6)),
            7 if !s.os_names.is_empty() => format!("Mozilla/5.0 ({}; Mobile) AppleWebKit/537.36 (KHTML, like Gecko)", s.os_names[r.below(s.os_names.len())]),
            8 => format!("{}/{} CFNetwork/{}.0.{} Darwin/{}.{}.0", r.pick(APP_SYL), 100 + r.below(900), 1300 + r.below(200), r.below(9), 20 + r.below(4), r.below(7)),
            9 => r.pick(&["-", "Mozilla/4.0", "Mozilla/5.0", "Apache-HttpClient/4.5.13 (Java/11.0.16)", "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)", "Ice"]).to_string(),
            _ => format!("{}{}/{} ({})", cap(bsyl(r)), r.pick(APP_SUFFIX), ver(r, 3), r.pick(&["unknown", "Linux", "Windows", "iOS 17.1"])),
        }
    }

    fn tool_ua(r: &mut Rng, s: &Samples) -> String {
        if pct(r, 55) && !s.whole.is_empty() {
            return s.whole[r.below(s.whole.len())].clone();
        }
        let tool = r.pick(&[
            "curl",
            "python-requests",
            "okhttp",
            "Go-http-client",
            "Java",
            "Wget",
            "PostmanRuntime",
            "axios",
            "node-fetch",
            "Dart",
            "reqwest",
        ]);
        format!("{tool}/{}", ver(r, 3))
    }

    fn non_ascii_ua(r: &mut Rng, s: &Samples) -> String {
        match r.below(4) {
            0 | 1 => {
                let m = r.pick(NON_ASCII_MODELS).to_string();
                android_ua(r, &m, None, None)
            }
            2 if !s.models.is_empty() => {
                let m = &s.models[r.below(s.models.len())];
                let m2 = format!(
                    "{}{}",
                    m.model,
                    r.pick(&[" Édition", "é", " 青春版", " Ünique"])
                );
                android_ua(r, &m2, m.android, m.build.as_deref())
            }
            _ => format!(
                "Mozilla/5.0 (compatible; {}-Crawler Müller/1.{}; +http://www.{}.de/bot.html)",
                cap(bsyl(r)),
                r.below(9),
                bsyl(r)
            ),
        }
    }

    fn input(r: &mut Rng, s: &Samples) -> String {
        if pct(r, 3) {
            return non_ascii_ua(r, s);
        }
        let roll = r.below(1000);
        let mut ua = match roll {
            0..=229 => desktop_ua(r),
            230..=599 => {
                let roll = r.below(100);
                if roll < 68 && !s.models.is_empty() {
                    let m = &s.models[r.below(s.models.len())];
                    android_ua(r, &m.model, m.android, m.build.as_deref())
                } else if roll < 78 {
                    let av = r.pick(&["10", "10", "14"]);
                    android_ua(r, "K", Some(av), None)
                } else if roll < 90 {
                    // a brand nobody wrote a rule for
                    let b = synth_brand(r);
                    let m = format!(
                        "{b} {}{}",
                        r.pick(&["Zq", "Lx", "Vo", "Ny"]),
                        1 + r.below(9)
                    );
                    android_ua(r, &m, None, None)
                } else if roll < 95 {
                    format!(
                        "Mozilla/5.0 (Android {}; Mobile; rv:{}.0) Gecko/{}.0 Firefox/{}.0",
                        10 + r.below(5),
                        110 + r.below(15),
                        110 + r.below(15),
                        110 + r.below(15)
                    )
                } else {
                    let m = r.pick(&[
                        "Pixel 7",
                        "Pixel 8 Pro",
                        "SM-S911B",
                        "SM-A546B",
                        "M2101K6G",
                        "CPH2451",
                        "RMX3630",
                        "moto g(60)",
                        "22101316G",
                    ]);
                    android_ua(r, m, None, None)
                }
            }
            600..=699 => ios_ua(r),
            700..=849 if !s.bots.is_empty() => bot_ua(r, s),
            850..=929 => tool_ua(r, s),
            _ => other_ua(r, s),
        };
        // an app / browser token from a generated browser rule on some UAs
        let p = if (230..=699).contains(&roll) {
            25
        } else if roll < 230 {
            12
        } else {
            0
        };
        if p > 0 && pct(r, p) && !s.products.is_empty() {
            ua = format!("{ua} {}", s.products[r.below(s.products.len())]);
        }
        ua
    }

    pub fn run(
        n: usize,
        seed: u64,
        inputs: usize,
        rules_path: &str,
        inputs_path: Option<&str>,
    ) -> Result<()> {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let r = &mut r;
        let nb = (n * 37 + 50) / 100;
        let no = (n * 17 + 50) / 100;
        let nd = n - nb - no;
        let mut s = Samples::default();
        let mut rules = browser_section(r, nb, n >= 2500, &mut s);
        rules.extend(os_section(r, no, &mut s));
        rules.extend(device_section(r, nd, &mut s));
        let mut out = std::io::BufWriter::new(std::fs::File::create(rules_path)?);
        for (i, u) in rules.iter().enumerate() {
            let line =
                json!({"id": i + 1, "pattern": u.pattern, "flags": u.flags, "payload": u.payload});
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        if let Some(path) = inputs_path {
            let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
            for _ in 0..inputs {
                writeln!(out, "{}", input(r, &s))?;
            }
            out.flush()?;
        }
        Ok(())
    }
}
