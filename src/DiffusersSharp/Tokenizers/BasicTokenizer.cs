using System.Globalization;
using System.Text;

namespace DiffusersSharp.Tokenizers;

/// <summary>
/// transformers' BERT <c>BasicTokenizer</c> as CLIPTokenizer builds it when ftfy is not installed:
/// <c>BasicTokenizer(do_lower_case=True, never_split=None, tokenize_chinese_chars=True, strip_accents=False,
/// do_split_on_punc=False)</c>. So: drop control characters, turn whitespace into spaces, put spaces around CJK
/// ideographs, NFC-normalise, split on whitespace and lower-case each piece (accents kept, punctuation not split).
/// </summary>
internal static class BasicTokenizer
{
    public static List<string> Tokenize(string text)
    {
        var prepared = TokenizeChineseChars(CleanText(text)).Normalize(NormalizationForm.FormC);
        var lowered = PythonText.Split(prepared).Select(PythonText.Lower);
        // transformers re-splits the joined pieces; lower() can change a piece's length but never adds whitespace.
        return PythonText.Split(string.Join(" ", lowered));
    }

    private static string CleanText(string text)
    {
        var sb = new StringBuilder(text.Length);
        // A lone UTF-16 surrogate enumerates as U+FFFD and is dropped, as Python drops the surrogate (category Cs).
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.Value is 0 or 0xFFFD || IsControl(rune)) continue;
            if (IsWhitespace(rune)) sb.Append(' ');
            else sb.Append(rune.ToString());
        }
        return sb.ToString();
    }

    private static string TokenizeChineseChars(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            if (IsChineseChar(rune.Value)) sb.Append(' ').Append(rune.ToString()).Append(' ');
            else sb.Append(rune.ToString());
        }
        return sb.ToString();
    }

    // \t, \n, \r are control characters that BERT counts as whitespace.
    private static bool IsWhitespace(Rune r) =>
        r.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator;

    // Any "C*" category (Cc, Cf, Cs, Co, Cn) except \t, \n, \r.
    private static bool IsControl(Rune r) =>
        r.Value is not ('\t' or '\n' or '\r') &&
        Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;

    // The CJK Unified Ideographs blocks (not Hiragana, Katakana or Hangul), exactly BERT's ranges.
    private static bool IsChineseChar(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
