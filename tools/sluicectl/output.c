/* Output helpers; see output.h. */
#include "tools/sluicectl/output.h"

void output_json_string(FILE *f, const char *s)
{
    if (s == NULL) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p);
        } else if (*p < 0x20) {
            fprintf(f, "\\u%04x", *p);
        } else {
            fputc(*p, f);
        }
    }
    fputc('"', f);
}

void output_uuid(const uint8_t id[16], char *out)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int n = 0;
    for (int i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)id[i] << 16;
        v |= i + 1 < 16 ? (uint32_t)id[i + 1] << 8 : 0;
        v |= i + 2 < 16 ? id[i + 2] : 0;
        int chars = i + 2 < 16 ? 4 : (i + 1 < 16 ? 3 : 2);
        for (int k = 0; k < chars; k++) {
            out[n++] = b64[(v >> (18 - 6 * k)) & 0x3f];
        }
    }
    out[n] = '\0';
}
