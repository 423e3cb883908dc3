import assert from "node:assert/strict";
import fc from "fast-check";
import { MAX_HTML_DEPTH, sanitizeMatrixHtml, truncateHtml } from "../../src/bridge/model/html";
import { htmlToPlainText } from "../../src/bridge/model/html-to-text";
import { fitBudget, normalizeText } from "../../src/bridge/model/formatted-text";
import {
  TRUNCATION_MARKER,
  jsonBytes,
  cleanFileName,
  truncateText,
  utf16Length,
} from "../../src/bridge/model/limits";
import { stripPlainReplyFallback } from "../../src/bridge/model/reply-fallback";

/** Every element nesting depth in sanitizer output (its tags are regular). */
function maxDepth(html: string): number {
  let depth = 0;
  let max = 0;
  for (const m of html.matchAll(/<(\/?)([a-z0-9]+)[^>]*?(\/?)>/g)) {
    if (m[3] === "/") continue;
    depth += m[1] === "/" ? -1 : 1;
    max = Math.max(max, depth);
  }
  return max;
}

const HOSTILE: Array<[string, string]> = [
  ["<script>alert(1)</script>hi", "hi"],
  ['<img src=x onerror="alert(1)">', ""],
  ['<img src="mxc://hs/a" onerror="alert(1)" alt="a">', '<img src="mxc://hs/a" alt="a" />'],
  ['<a href="javascript:alert(1)">x</a>', "x"],
  ['<a href="JaVaScRiPt:alert(1)">x</a>', "x"],
  ['<a href="java\tscript:alert(1)">x</a>', "x"],
  ['<a href="&#106;avascript:alert(1)">x</a>', "x"],
  ['<a href=" javascript:alert(1)">x</a>', "x"],
  ['<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>', "x"],
  ['<a href="vbscript:x">x</a>', "x"],
  ['<a href="//evil.example/">x</a>', "x"],
  ['<a href="relative/path">x</a>', "x"],
  ['<p onclick="alert(1)" style="color:red" class="c" id="i">p</p>', "<p>p</p>"],
  ['<div style="background:url(javascript:alert(1))">d</div>', "<div>d</div>"],
  ["<svg><script>alert(1)</script><text>t</text></svg>ok", "ok"],
  ["<math><mi>x</mi></math>ok", "ok"],
  ['<iframe srcdoc="<script>alert(1)</script>"></iframe>ok', "ok"],
  ["<style>body{display:none}</style>ok", "ok"],
  ["<form action=x><input value=y><button>b</button></form>", "b"],
  ["<!-- comment --><![CDATA[x]]><!DOCTYPE html>ok", "ok"],
  ["<b><i>unclosed", "<b><i>unclosed</i></b>"],
  [
    '<font color="red" data-mx-color="#00ff00" data-mx-bg-color="url(x)">f</font>',
    '<font data-mx-color="#00ff00">f</font>',
  ],
  ['<code class="language-js evil">c</code>', '<code class="language-js">c</code>'],
  [
    '<ol start="5"><li>x</li></ol><ol start="1e9;x"><li>y</li></ol>',
    '<ol start="5"><li>x</li></ol><ol><li>y</li></ol>',
  ],
  ['<a href="https://e.example" target="_top" rel="x">l</a>', '<a href="https://e.example">l</a>'],
  ['<a href="matrix:r/room:hs" target="_blank">m</a>', '<a href="matrix:r/room:hs" target="_blank">m</a>'],
  ['<span data-mx-spoiler="why" data-evil="x">s</span>', '<span data-mx-spoiler="why">s</span>'],
  ["<mx-reply><blockquote>quoted fallback</blockquote></mx-reply>reply", "reply"],
  ["<textarea><b>t</b></textarea>ok", "ok"],
  ['"><script>alert(1)</script>', '"&gt;'],
  ['<img src=" mxc://hs/a ">', '<img src="mxc://hs/a" />'],
  // Regressions: a dropped image must not swallow the text after it, nor an
  // unwrapped link change how a later link is closed.
  ['a <img src="https://x.example/y.png" alt="dog"> b <b>bold</b>', "a  b <b>bold</b>"],
  [
    '<a href="javascript:x">bad</a><a href="https://ok.example">ok</a>',
    'bad<a href="https://ok.example">ok</a>',
  ],
];

describe("bridge HTML", () => {
  describe("sanitizer: Matrix's allowed subset", () => {
    for (const [input, expected] of HOSTILE) {
      it(`${JSON.stringify(input).slice(0, 70)}`, () => assert.equal(sanitizeMatrixHtml(input), expected));
    }

    it("keeps every tag of the allowed list", () => {
      const html =
        "<h1>a</h1><h6>b</h6><blockquote>q</blockquote><p><del>d</del><s>s</s><strike>k</strike><sup>1</sup>" +
        "<sub>2</sub><b>b</b><i>i</i><u>u</u><strong>s</strong><em>e</em></p><hr /><br /><div>d</div>" +
        "<ul><li>l</li></ul><table><caption>c</caption><thead><tr><th>h</th></tr></thead><tbody><tr><td>d</td>" +
        "</tr></tbody></table><pre><code>x</code></pre><details><summary>s</summary>d</details>" +
        '<span data-mx-maths="x^2">x²</span><div data-mx-maths="y">y</div><img src="mxc://hs/m" width="3" height="4" title="t" />';
      assert.equal(sanitizeMatrixHtml(html), html);
    });

    it("limits nesting: 10,000 nested tags come out at most MAX_HTML_DEPTH deep, text kept", () => {
      const deep = "<div>".repeat(10_000) + "core" + "</div>".repeat(10_000);
      const out = sanitizeMatrixHtml(deep);
      assert.equal(maxDepth(out), MAX_HTML_DEPTH);
      assert.ok(out.includes("core"));
      const unclosed = "<b><i>".repeat(5_000) + "x";
      assert.ok(maxDepth(sanitizeMatrixHtml(unclosed)) <= MAX_HTML_DEPTH);
    });

    it("is idempotent, and never lets script, handlers or foreign schemes through (property)", () => {
      const token = fc.oneof(
        fc.constantFrom(
          "<script>",
          "</script>",
          "<a href='javascript:x'>",
          '<a href="https://ok.example">',
          "</a>",
          "<b>",
          "</b>",
          "<img src=x onerror=y>",
          '<img src="mxc://h/i">',
          "<mx-reply>",
          "</mx-reply>",
          "<p>",
          "</p>",
          "<pre>",
          "<style>",
          "&amp;",
          "&lt;",
          "&#0;",
          "&#x110000;",
          '"',
          "'",
          "<",
          ">",
          "=",
          "<!--",
          "-->",
          "<svg>",
          "<div onclick=x>",
          "</div>",
          "<font color=#ff0000>",
          "<br>",
          "<ol start=3>",
          "<li>",
        ),
        fc.string({ maxLength: 8 }),
      );
      fc.assert(
        fc.property(fc.array(token, { maxLength: 40 }), (tokens) => {
          const once = sanitizeMatrixHtml(tokens.join(""));
          assert.equal(sanitizeMatrixHtml(once), once);
          assert.doesNotMatch(once, /<script|<style|<svg|\son\w+=|javascript:|<mx-reply/i);
          for (const m of once.matchAll(/\b(?:href|src)="([^"]*)"/g))
            assert.match(m[1]!, /^(https?|mailto|matrix|mxc):/);
          htmlToPlainText(once);
        }),
        { numRuns: 1000 },
      );
    });
  });

  describe("plain text from HTML", () => {
    const cases: Array<[string, string]> = [
      ["<p>Hello <b>world</b></p>\n<p>second &amp; &lt;x&gt;</p>", "Hello world\nsecond & <x>"],
      [
        '<ul><li>one</li><li>two<ol start="3"><li>a</li><li>b</li></ol></li></ul>',
        "- one\n- two\n  3. a\n  4. b",
      ],
      ["<blockquote><p>quoted</p><p>more</p></blockquote><p>reply</p>", "> quoted\n> more\nreply"],
      ["<pre><code>let x = 1;\n  if (x) {}</code></pre>after", "let x = 1;\n  if (x) {}\nafter"],
      [
        '<a href="https://e.example">site</a> <a href="https://matrix.to/#/@a:b">Alice</a>',
        "site (https://e.example) Alice",
      ],
      [
        '<a href="https://e.example">https://e.example</a> <a href="https://x.example"></a>',
        "https://e.example https://x.example",
      ],
      ["<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>", "a | b\n1 | 2"],
      ["a<br>b<br><br>c<hr>d", "a\nb\n\nc\n---\nd"],
      ['<img src="mxc://h/a" alt="cat"> <img src="mxc://h/b">', "cat [image]"],
      ["<mx-reply><blockquote>fallback</blockquote></mx-reply>the reply", "the reply"],
      ["  spaced    <i>out</i>  \n text ", "spaced out text"],
    ];
    for (const [html, text] of cases) {
      it(JSON.stringify(html).slice(0, 70), () => assert.equal(htmlToPlainText(html), text));
    }
  });

  describe("truncation", () => {
    it("cuts text with a marker, by UTF-16 units or by JSON bytes, never splitting a code point", () => {
      assert.equal(truncateText("short", 10), "short");
      const cut = truncateText("x".repeat(100), 50);
      assert.equal(cut.length, 50);
      assert.ok(cut.endsWith(TRUNCATION_MARKER));
      const emoji = truncateText("😀".repeat(100), 51);
      assert.ok(emoji.length <= 51 && !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(emoji));
      const bytes = truncateText('é"\n\u0001'.repeat(1000), 500, jsonBytes);
      assert.ok(jsonBytes(bytes) <= 500);
      assert.equal(Buffer.byteLength(JSON.stringify(bytes)) - 2, jsonBytes(bytes));
    });

    it("cleans file names: last path segment, no control characters, extension kept", () => {
      assert.equal(cleanFileName("a".repeat(300) + ".jpeg")!.length, 255);
      assert.ok(cleanFileName("a".repeat(300) + ".jpeg")!.endsWith("a.jpeg"));
      assert.equal(cleanFileName("../../etc/passwd"), "passwd");
      assert.equal(cleanFileName("C:\\Users\\me\\cat\u0000.png"), "cat.png");
      assert.equal(cleanFileName(".."), undefined);
      assert.equal(cleanFileName("dir/"), undefined);
    });

    it("cuts HTML to a well-formed prefix that fits, closing open tags", () => {
      const html = sanitizeMatrixHtml("<p>" + "<b>bold</b> text &amp; more ".repeat(5000) + "</p>");
      for (const [max, measure] of [
        [1000, jsonBytes],
        [4321, utf16Length],
      ] as const) {
        const cut = truncateHtml(html, max, measure)!;
        assert.ok(measure(cut) <= max, `${measure(cut)} > ${max}`);
        assert.ok(cut.endsWith(TRUNCATION_MARKER));
        assert.equal(sanitizeMatrixHtml(cut), cut);
        assert.ok(cut.includes("</p>"));
      }
      const deep = sanitizeMatrixHtml("<div>".repeat(10_000) + "x".repeat(10_000));
      const cutDeep = truncateHtml(deep, 800, utf16Length)!;
      assert.ok(cutDeep.length <= 800 && sanitizeMatrixHtml(cutDeep) === cutDeep);
      assert.equal(truncateHtml("<b>x</b>", 3, utf16Length), undefined);
    });

    it("fits body and HTML into one byte budget, preferring to keep a short body whole", () => {
      const text = normalizeText(
        { body: "short", html: "<i>é</i>".repeat(20_000) },
        { body: 1e6, html: 1e6, measure: jsonBytes },
      );
      const fit = fitBudget(text, 10_000, jsonBytes);
      assert.equal(fit.body, "short");
      assert.ok(jsonBytes(fit.body) + jsonBytes(fit.html!) <= 10_000);
      const both = fitBudget({ body: "b".repeat(20_000), html: "<b>h</b>".repeat(5000) }, 9000, jsonBytes);
      assert.ok(jsonBytes(both.body) + jsonBytes(both.html ?? "") <= 9000);
    });
  });

  describe("reply fallbacks", () => {
    const cases: Array<[string, string]> = [
      ["> <@alice:hs.example> original\n> second line\n\nmy reply", "my reply"],
      ["> * <@alice:hs.example> waves\n\nwave back", "wave back"],
      ["> <@alice:hs.example> original\n>\n> after blank\n\nreply\n\nmore", "reply\n\nmore"],
      ["> my own quote\n\nmy reply", "> my own quote\n\nmy reply"],
      ["no fallback", "no fallback"],
      ["> <@alice:hs.example> only a quote", ""],
    ];
    for (const [body, stripped] of cases) {
      it(JSON.stringify(body), () => assert.equal(stripPlainReplyFallback(body), stripped));
    }
  });
});
