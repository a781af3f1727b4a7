// Code highlighting (web-client.md §6, D6): a small table-driven tokenizer per language family.
// Output is text wrapped in <span class="tok-…"> nodes built with the DOM, never markup strings.
// Token classes: kw (keywords), str, com (comments), num, type, dir (directives, decorators,
// annotations, attributes), var (shell/make/cmake variables), bi (built-ins), tag, attr.

const words = (s) => new Set(s.split(' '));

const C_KW = 'auto break case const continue default do else enum extern for goto if inline register restrict return sizeof static struct switch typedef union volatile while';
const CPP_KW = `${C_KW} alignas alignof and asm catch class constexpr consteval constinit co_await co_return co_yield decltype delete dynamic_cast explicit export false friend mutable namespace new noexcept not nullptr operator or override private protected public reinterpret_cast static_assert static_cast template this throw true try typeid typename using virtual final concept requires`;
const C_TYPES = 'void char short int long float double signed unsigned bool _Bool size_t ssize_t int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t uintptr_t intptr_t FILE wchar_t char16_t char32_t auto std string vector map';
const JS_KW = 'async await break case catch class const continue debugger default delete do else export extends finally for from function get if import in instanceof let new of return set static super switch this throw try typeof var void while with yield true false null undefined';
const TS_EXTRA = 'abstract as declare enum implements interface keyof namespace private protected public readonly type is infer satisfies';
const JS_BI = 'console window document Math JSON Object Array String Number Boolean Promise Map Set Symbol Date RegExp Error fetch setTimeout clearTimeout parseInt parseFloat require module exports process globalThis';
const PY_KW = 'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case';
const PY_BI = 'print len range open int str float list dict set tuple bool type isinstance super enumerate zip map filter sorted min max sum abs any all repr iter next object self cls Exception ValueError TypeError KeyError';
const SH_KW = 'if then else elif fi for while until do done case esac in function select time return exit break continue local export readonly declare unset shift trap source';
const SH_BI = 'echo printf cd pwd ls cat grep sed awk test read eval exec set true false mkdir rm cp mv chmod chown find xargs sort uniq head tail wc cut tr tee sudo curl git make';
const JAVA_KW = 'abstract assert break case catch class const continue default do else enum extends final finally for goto if implements import instanceof interface native new package private protected public return static strictfp super switch synchronized this throw throws transient try volatile while var record sealed permits yield true false null';
const JAVA_TYPES = 'boolean byte char double float int long short void String Integer Long Double Boolean Object List Map Set ArrayList HashMap Optional';
const GO_KW = 'break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var true false nil iota';
const GO_TYPES = 'bool byte complex64 complex128 error float32 float64 int int8 int16 int32 int64 rune string uint uint8 uint16 uint32 uint64 uintptr any';
const GO_BI = 'append cap close copy delete len make new panic print println recover fmt';
const RUST_KW = 'as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait true type unsafe use where while';
const RUST_TYPES = 'i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize f32 f64 bool char str String Vec Option Result Box Rc Arc HashMap';
const RUST_BI = 'println print format vec panic assert assert_eq Some None Ok Err todo unimplemented write writeln';
const GROOVY_KW = `${JAVA_KW} def as in trait it`;
const GROOVY_BI = 'pipeline agent stages stage steps sh bat echo node script environment post always success failure parameters options triggers when dir withCredentials dependencies implementation testImplementation plugins repositories mavenCentral task apply';
const VHDL_KW = 'abs access after alias all and architecture array assert attribute begin block body buffer bus case component configuration constant disconnect downto else elsif end entity exit file for function generate generic group guarded if impure in inertial inout is label library linkage literal loop map mod nand new next nor not null of on open or others out package port postponed procedure process pure range record register reject rem report return rol ror select severity signal shared sla sll sra srl subtype then to transport type unaffected units until use variable wait when while with xnor xor rising_edge falling_edge';
const VHDL_TYPES = 'std_logic std_logic_vector std_ulogic std_ulogic_vector integer natural positive boolean bit bit_vector signed unsigned real time string character ieee std_logic_1164 numeric_std';
const VLOG_KW = 'always always_ff always_comb always_latch and assign automatic begin case casex casez class default defparam disable else end endcase endclass endfunction endgenerate endinterface endmodule endpackage endtask enum for forever function generate genvar if import initial inout input interface localparam module negedge nor not or output package parameter posedge repeat return struct task typedef unique while xor';
const VLOG_TYPES = 'wire reg logic bit byte int integer longint shortint real time signed unsigned tri supply0 supply1';
const MAKE_KW = 'ifeq ifneq ifdef ifndef else endif include define endef export override vpath';
const MAKE_BI = 'wildcard patsubst subst shell foreach filter filter-out notdir dir basename addprefix addsuffix call eval info warning error strip sort word words abspath';
const CMAKE_KW = 'if elseif else endif foreach endforeach while endwhile function endfunction macro endmacro return break continue';
const CMAKE_BI = 'cmake_minimum_required project add_executable add_library target_link_libraries target_include_directories target_compile_definitions target_compile_options include_directories set unset option message find_package add_subdirectory install list string file configure_file add_custom_command add_custom_target add_test enable_testing include get_filename_component set_target_properties';

const C_FAMILY = {
  line: ['//'], block: [['/*', '*/']], quotes: ['"', "'"],
};

const SPECS = {
  c: { ...C_FAMILY, kw: words(C_KW), types: words(C_TYPES), dir: /#\s*[a-z]+/y, lineStartDir: true },
  cpp: { ...C_FAMILY, kw: words(CPP_KW), types: words(C_TYPES), dir: /#\s*[a-z]+/y, lineStartDir: true, capTypes: true },
  js: { ...C_FAMILY, quotes: ['"', "'", '`'], kw: words(JS_KW), bi: words(JS_BI), capTypes: true, regexLiteral: true },
  ts: { ...C_FAMILY, quotes: ['"', "'", '`'], kw: words(`${JS_KW} ${TS_EXTRA}`), types: words('string number boolean any unknown never void object bigint symbol'), bi: words(JS_BI), capTypes: true, dir: /@[A-Za-z_]\w*/y },
  python: { line: ['#'], quotes: ['"""', "'''", '"', "'"], kw: words(PY_KW), bi: words(PY_BI), dir: /@[A-Za-z_][\w.]*/y, capTypes: true },
  sh: { line: ['#'], quotes: ['"', "'"], kw: words(SH_KW), bi: words(SH_BI), vars: /\$(?:\{[^}\n]*\}|[A-Za-z_]\w*|[0-9@#?*$!-])/y, shebang: true },
  make: { line: ['#'], quotes: ['"', "'"], kw: words(MAKE_KW), bi: words(MAKE_BI), vars: /\$(?:\([^)\n]*\)|\{[^}\n]*\}|[@<^?*%+]|\$)/y, dir: /^[A-Za-z0-9_.%/$() -]+(?=::?(?!=))/my, lineStartDir: true },
  cmake: { line: ['#'], quotes: ['"'], kw: words(CMAKE_KW), bi: words(CMAKE_BI), vars: /\$(?:ENV)?\{[^}\n]*\}/y, caseless: true },
  groovy: { ...C_FAMILY, quotes: ['"""', "'''", '"', "'"], kw: words(GROOVY_KW), types: words(JAVA_TYPES), bi: words(GROOVY_BI), dir: /@[A-Za-z_]\w*/y, vars: /\$\{[^}\n]*\}/y, capTypes: true },
  java: { ...C_FAMILY, kw: words(JAVA_KW), types: words(JAVA_TYPES), dir: /@[A-Za-z_]\w*/y, capTypes: true },
  go: { ...C_FAMILY, quotes: ['"', "'", '`'], kw: words(GO_KW), types: words(GO_TYPES), bi: words(GO_BI) },
  rust: { ...C_FAMILY, quotes: ['"', "'"], kw: words(RUST_KW), types: words(RUST_TYPES), bi: words(RUST_BI), dir: /#!?\[[^\]\n]*\]/y, capTypes: true, macros: true, lifetimes: true },
  vhdl: { line: ['--'], block: [['/*', '*/']], quotes: ['"', "'"], kw: words(VHDL_KW), types: words(VHDL_TYPES), caseless: true, charLits: true },
  verilog: { ...C_FAMILY, quotes: ['"'], kw: words(VLOG_KW), types: words(VLOG_TYPES), dir: /`[A-Za-z_]\w*/y, bi: null, sysTasks: true, verilogNums: true },
  json: { quotes: ['"'], kw: words('true false null'), jsonKeys: true },
};

const ALIASES = {
  c: 'c', h: 'c', cpp: 'cpp', 'c++': 'cpp', cc: 'cpp', cxx: 'cpp', hpp: 'cpp', hh: 'cpp', hxx: 'cpp',
  js: 'js', javascript: 'js', jsx: 'js', mjs: 'js', cjs: 'js',
  ts: 'ts', typescript: 'ts', tsx: 'ts',
  py: 'python', python: 'python', python3: 'python', pyw: 'python',
  sh: 'sh', bash: 'sh', zsh: 'sh', shell: 'sh', console: 'sh',
  make: 'make', makefile: 'make', mk: 'make',
  cmake: 'cmake', 'cmakelists.txt': 'cmake',
  groovy: 'groovy', gradle: 'groovy', jenkinsfile: 'groovy', jenkins: 'groovy',
  java: 'java', go: 'go', golang: 'go', rs: 'rust', rust: 'rust',
  vhd: 'vhdl', vhdl: 'vhdl', v: 'verilog', vh: 'verilog', verilog: 'verilog', sv: 'verilog', svh: 'verilog', systemverilog: 'verilog',
  xml: 'xml', html: 'xml', htm: 'xml', svg: 'xml', xsl: 'xml', xslt: 'xml', xsd: 'xml', xhtml: 'xml',
  json: 'json',
};

/** The canonical language for a fence word, file extension or file name, or '' when none. */
export function languageOf(word) {
  const w = (word || '').toLowerCase();
  if (ALIASES[w]) return ALIASES[w];
  if (w.startsWith('jenkinsfile')) return 'groovy';
  if (w === 'dockerfile') return '';
  const dot = w.lastIndexOf('.');
  return dot >= 0 ? ALIASES[w.slice(dot + 1)] || '' : '';
}

const NUMBER = /(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)[a-zA-Z0-9]*/y;
const VLOG_NUMBER = /\d*'[sS]?[bBoOdDhH][0-9a-fA-FxXzZ_?]+/y;
const IDENT = /[A-Za-z_$][\w$-]*/y;
const IDENT_NO_DASH = /[A-Za-z_$][\w$]*/y;

function stickyAt(re, s, i) {
  re.lastIndex = i;
  const m = re.exec(s);
  return m && m.index === i ? m[0] : null;
}

/** Tokens [[class or '', text], …] for `code` in `lang` (canonical or alias). */
export function tokenize(code, lang) {
  const name = languageOf(lang) || lang;
  if (name === 'xml') return tokenizeXml(code);
  const spec = SPECS[name];
  if (!spec) return [['', code]];
  const out = [];
  let plain = '';
  const push = (cls, text) => {
    if (plain) { out.push(['', plain]); plain = ''; }
    out.push([cls, text]);
  };
  const ident = name === 'make' || name === 'cmake' ? IDENT : IDENT_NO_DASH;
  let i = 0;
  let lineStart = true;
  let prevSignificant = '';
  while (i < code.length) {
    const ch = code[i];
    if (ch === '\n') { plain += ch; i += 1; lineStart = true; continue; }
    if (ch === ' ' || ch === '\t') { plain += ch; i += 1; continue; }
    let m = null;
    if (spec.shebang && i === 0 && code.startsWith('#!')) {
      const end = code.indexOf('\n');
      m = end === -1 ? code : code.slice(0, end);
      push('dir', m); i += m.length; continue;
    }
    if (spec.line) {
      const marker = spec.line.find((mk) => code.startsWith(mk, i));
      if (marker && !(name === 'sh' && marker === '#' && i > 0 && !/\s/.test(code[i - 1]))) {
        const end = code.indexOf('\n', i);
        m = code.slice(i, end === -1 ? code.length : end);
        push('com', m); i += m.length; continue;
      }
    }
    if (spec.block) {
      const pair = spec.block.find(([open]) => code.startsWith(open, i));
      if (pair) {
        const end = code.indexOf(pair[1], i + pair[0].length);
        m = code.slice(i, end === -1 ? code.length : end + pair[1].length);
        push('com', m); i += m.length; continue;
      }
    }
    if (spec.dir && (!spec.lineStartDir || lineStart) && (m = stickyAt(spec.dir, code, i))) {
      push('dir', m); i += m.length; lineStart = false; continue;
    }
    if (spec.vars && (m = stickyAt(spec.vars, code, i))) { push('var', m); i += m.length; lineStart = false; continue; }
    if (spec.quotes) {
      const q = spec.quotes.find((qt) => code.startsWith(qt, i));
      if (q && !(spec.charLits && q === "'" && !/^'.'/.test(code.slice(i, i + 3)))
        && !(spec.lifetimes && q === "'" && /^'[A-Za-z_]\w*(?!')/.test(code.slice(i)) && code[i + 2] !== "'")) {
        const end = closeQuote(code, i + q.length, q);
        m = code.slice(i, end);
        const isKey = spec.jsonKeys && /^\s*:/.test(code.slice(end, end + 20));
        push(isKey ? 'attr' : 'str', m); i = end; lineStart = false; prevSignificant = 'x'; continue;
      }
    }
    if (spec.lifetimes && ch === "'" && (m = stickyAt(/'[A-Za-z_]\w*/y, code, i))) { push('type', m); i += m.length; continue; }
    if (spec.regexLiteral && ch === '/' && /^$|[(,=:[!&|?{};]$/.test(prevSignificant)) {
      m = stickyAt(/\/(?![*/])(?:\\.|\[(?:\\.|[^\]\\\n])*\]|[^/\\\n])+\/[a-z]*/y, code, i);
      if (m) { push('str', m); i += m.length; prevSignificant = 'x'; continue; }
    }
    if (spec.verilogNums && (m = stickyAt(VLOG_NUMBER, code, i))) { push('num', m); i += m.length; continue; }
    if (spec.sysTasks && ch === '$' && (m = stickyAt(/\$[A-Za-z_]\w*/y, code, i))) { push('bi', m); i += m.length; continue; }
    if (/[0-9]/.test(ch) || (ch === '.' && /[0-9]/.test(code[i + 1] || ''))) {
      if (!/[\w$]/.test(code[i - 1] || '') && (m = stickyAt(NUMBER, code, i))) {
        push('num', m); i += m.length; lineStart = false; prevSignificant = 'x'; continue;
      }
    }
    if ((m = stickyAt(ident, code, i))) {
      const key = spec.caseless ? m.toLowerCase() : m;
      let cls = '';
      if (spec.kw && spec.kw.has(key)) cls = 'kw';
      else if (spec.types && spec.types.has(key)) cls = 'type';
      else if (spec.bi && spec.bi.has(key)) cls = 'bi';
      else if (spec.macros && code[i + m.length] === '!') cls = 'bi';
      else if (spec.capTypes && /^[A-Z][a-z0-9]\w*$/.test(m)) cls = 'type';
      if (cls) push(cls, m); else plain += m;
      i += m.length; lineStart = false; prevSignificant = 'x'; continue;
    }
    plain += ch;
    prevSignificant = ch;
    lineStart = false;
    i += 1;
  }
  if (plain) out.push(['', plain]);
  return out;
}

function closeQuote(code, from, q) {
  let j = from;
  const single = q.length === 1 && q !== '`';
  while (j < code.length) {
    if (code[j] === '\\') { j += 2; continue; }
    if (code.startsWith(q, j)) return j + q.length;
    if (single && code[j] === '\n') return j;
    j += 1;
  }
  return code.length;
}

function tokenizeXml(code) {
  const out = [];
  let i = 0;
  let plain = '';
  const push = (cls, text) => {
    if (plain) { out.push(['', plain]); plain = ''; }
    if (text) out.push([cls, text]);
  };
  while (i < code.length) {
    if (code.startsWith('<!--', i)) {
      const end = code.indexOf('-->', i + 4);
      const stop = end === -1 ? code.length : end + 3;
      push('com', code.slice(i, stop)); i = stop; continue;
    }
    if (code.startsWith('<![CDATA[', i)) {
      const end = code.indexOf(']]>', i);
      const stop = end === -1 ? code.length : end + 3;
      push('str', code.slice(i, stop)); i = stop; continue;
    }
    const tag = /<[?!/]?[A-Za-z_][\w:.-]*/y;
    tag.lastIndex = i;
    const t = tag.exec(code);
    if (t) {
      push('tag', t[0]);
      i += t[0].length;
      while (i < code.length && code[i] !== '>' && !(code[i] === '<')) {
        const attr = /[A-Za-z_:][\w:.-]*/y;
        attr.lastIndex = i;
        const a = attr.exec(code);
        if (a) { push('attr', a[0]); i += a[0].length; continue; }
        if (code[i] === '"' || code[i] === "'") {
          const end = code.indexOf(code[i], i + 1);
          const stop = end === -1 ? code.length : end + 1;
          push('str', code.slice(i, stop)); i = stop; continue;
        }
        plain += code[i]; i += 1;
      }
      if (code[i] === '>') { push('tag', '>'); i += 1; }
      continue;
    }
    if (code[i] === '&') {
      const ent = /&#?\w+;/y;
      ent.lastIndex = i;
      const e = ent.exec(code);
      if (e) { push('bi', e[0]); i += e[0].length; continue; }
    }
    plain += code[i];
    i += 1;
  }
  push('', '');
  return out;
}

/** Highlighted code as a DocumentFragment of text and <span class="tok-…"> nodes. */
export function highlight(code, lang) {
  const fragment = document.createDocumentFragment();
  for (const [cls, text] of tokenize(code, lang)) {
    if (!cls) {
      fragment.append(document.createTextNode(text));
    } else {
      const span = document.createElement('span');
      span.className = `tok-${cls}`;
      span.textContent = text;
      fragment.append(span);
    }
  }
  return fragment;
}
