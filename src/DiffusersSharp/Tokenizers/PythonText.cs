using System.Globalization;
using System.Text;

namespace DiffusersSharp.Tokenizers;

/// <summary>
/// Python <c>str</c> semantics that transformers' slow tokenizers rely on and .NET does differently: which characters
/// are whitespace for <c>split()</c>/<c>strip()</c>, and <c>lower()</c> with Unicode's full lowercase mapping. All of
/// it works on code points (Runes), as Python strings do, never on UTF-16 halves.
/// </summary>
internal static class PythonText
{
    /// <summary><c>str.isspace()</c> for one code point: bidi class WS, B or S, or category Zs (CPython's table).</summary>
    public static bool IsSpace(int cp) =>
        cp is >= 0x09 and <= 0x0D or >= 0x1C and <= 0x20 or 0x85 or 0xA0 or 0x1680 or >= 0x2000 and <= 0x200A
            or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    /// <summary><c>str.split()</c> with no separator: runs of whitespace separate, empty pieces are dropped.</summary>
    public static List<string> Split(string text)
    {
        var parts = new List<string>();
        var start = -1;
        var i = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            if (IsSpace(rune.Value))
            {
                if (start >= 0) parts.Add(text[start..i]);
                start = -1;
            }
            else if (start < 0)
            {
                start = i;
            }
            i += rune.Utf16SequenceLength;
        }
        if (start >= 0) parts.Add(text[start..]);
        return parts;
    }

    public static string LStrip(string text)
    {
        var i = 0;
        while (i < text.Length && IsSpace(text[i])) i++;
        return text[i..];
    }

    public static string RStrip(string text)
    {
        var end = text.Length;
        while (end > 0 && IsSpace(text[end - 1])) end--;
        return text[..end];
    }

    /// <summary>
    /// <c>str.lower()</c>: .NET's invariant lowering is Unicode's simple mapping; Python uses the full mapping, which
    /// differs in exactly two places: U+0130 (İ) becomes "i̇" (two code points), and a capital sigma at the end of a
    /// word becomes final sigma ς (CPython's Final_Sigma rule).
    /// </summary>
    public static string Lower(string text)
    {
        var runes = text.EnumerateRunes().ToArray();
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < runes.Length; i++)
        {
            switch (runes[i].Value)
            {
                case 0x0130:
                    sb.Append("i\u0307");
                    break;
                case 0x03A3:
                    sb.Append(IsFinalSigma(runes, i) ? 'ς' : 'σ');
                    break;
                default:
                    sb.Append(Rune.ToLowerInvariant(runes[i]).ToString());
                    break;
            }
        }
        return sb.ToString();
    }

    // CPython's handle_capital_sigma: final when a cased letter precedes (skipping case-ignorables) and none follows.
    private static bool IsFinalSigma(Rune[] runes, int i)
    {
        var j = i - 1;
        while (j >= 0 && IsCaseIgnorable(runes[j])) j--;
        if (j < 0 || !IsCased(runes[j])) return false;
        j = i + 1;
        while (j < runes.Length && IsCaseIgnorable(runes[j])) j++;
        return j == runes.Length || !IsCased(runes[j]);
    }

    // Unicode's Cased property: Lu, Ll, Lt plus Other_Lowercase/Other_Uppercase, which .NET does not expose; a
    // character with a case mapping covers the latter's letters (Ⓐ, Ⅰ, ...), the rest are rare modifier letters.
    private static bool IsCased(Rune r) =>
        Rune.GetUnicodeCategory(r) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
        || Rune.ToLowerInvariant(r) != r || Rune.ToUpperInvariant(r) != r;

    // Unicode's Case_Ignorable: Mn, Me, Cf, Lm, Sk, and the Word_Break MidLetter/MidNumLet/Single_Quote characters.
    private static bool IsCaseIgnorable(Rune r) =>
        Rune.GetUnicodeCategory(r) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
            or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol
        || r.Value is 0x27 or 0x2E or 0x3A or 0xB7 or 0x387 or 0x55F or 0x5F4 or 0x2018 or 0x2019 or 0x2024 or 0x2027
            or 0xFE13 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A;
}
