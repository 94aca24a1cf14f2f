/* jpkictl: placeholder main, replaced when the operator API lands. */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "jpkictl: not built yet\n");
    return 2;
}
