namespace DiffusersSharp.Tokenizers;

/// <summary>
/// transformers' <c>Trie</c> (tokenization_utils.py): cuts a text at the added tokens it contains, in one pass,
/// preferring the earliest start and then the longest token. Ported step by step, lookahead included, so that
/// overlapping added tokens cut exactly where transformers cuts. Works on UTF-16 units: a token's units can only match
/// at a code point boundary, so the cuts are those Python finds on code points.
/// </summary>
internal sealed class AddedTokenTrie
{
    private sealed class Node
    {
        public readonly Dictionary<char, Node> Children = new();
        public bool IsEnd;
    }

    private readonly Node _root = new();

    public AddedTokenTrie(IEnumerable<string> tokens)
    {
        foreach (var token in tokens)
        {
            if (token.Length == 0) continue;
            var node = _root;
            foreach (var c in token)
            {
                if (!node.Children.TryGetValue(c, out var next)) node.Children[c] = next = new Node();
                node = next;
            }
            node.IsEnd = true;
        }
    }

    public List<string> Split(string text)
    {
        // Partial matches by start offset, in insertion order (Python's OrderedDict): the lookahead relies on it.
        var states = new List<(int Start, Node Node)>();
        var offsets = new List<int> { 0 };
        var skip = 0;
        for (var current = 0; current < text.Length; current++)
        {
            if (skip > 0 && current < skip) continue;
            var c = text[current];
            var reset = false;
            var toRemove = new HashSet<int>();
            for (var s = 0; s < states.Count; s++)
            {
                var (start, node) = states[s];
                if (node.IsEnd)
                {
                    var end = 0;
                    // Lookahead: an earlier or equal start may still grow into a longer token.
                    foreach (var (lookStart, lookNodeStart) in states)
                    {
                        var lookNode = lookNodeStart;
                        int lookaheadIndex;
                        if (lookStart > start) break;
                        if (lookStart < start)
                        {
                            // That state's pointer already consumed the current character.
                            lookaheadIndex = current + 1;
                            end = current + 1;
                        }
                        else
                        {
                            lookaheadIndex = current;
                            end = current;
                        }
                        char? next = lookaheadIndex < text.Length ? text[lookaheadIndex] : null;
                        if (lookNode.IsEnd)
                        {
                            start = lookStart;
                            end = lookaheadIndex;
                            skip = lookaheadIndex;
                        }
                        while (next is { } n && lookNode.Children.TryGetValue(n, out var child))
                        {
                            lookNode = child;
                            lookaheadIndex++;
                            if (lookNode.IsEnd)
                            {
                                start = lookStart;
                                end = lookaheadIndex;
                                skip = lookaheadIndex;
                            }
                            if (lookaheadIndex == text.Length) break;
                            next = text[lookaheadIndex];
                        }
                    }
                    offsets.Add(start);
                    offsets.Add(end);
                    reset = true;
                    break;
                }
                if (node.Children.TryGetValue(c, out var advanced)) states[s] = (start, advanced);
                else toRemove.Add(start);
            }
            if (reset) states.Clear();
            else states.RemoveAll(st => toRemove.Contains(st.Start));

            if (current >= skip && _root.Children.TryGetValue(c, out var first)) states.Add((current, first));
        }

        // A match that runs to the end of the text; the first state is the longest (lowest start).
        foreach (var (start, node) in states)
        {
            if (!node.IsEnd) continue;
            offsets.Add(start);
            offsets.Add(text.Length);
            break;
        }
        return CutText(text, offsets);
    }

    private static List<string> CutText(string text, List<int> offsets)
    {
        offsets.Add(text.Length);
        var pieces = new List<string>();
        var start = 0;
        foreach (var end in offsets)
        {
            // start > end is transformers' "bug in Trie" recovery: skip; start == end is a zero-width cut.
            if (start >= end) continue;
            pieces.Add(text[start..end]);
            start = end;
        }
        return pieces;
    }
}
